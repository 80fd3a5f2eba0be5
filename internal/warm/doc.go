// Package warm imports every third-party module the project is planned to use,
// so that `go mod tidy` keeps them while the packages that use them are being
// written. It is deleted once each module has a real importer.
package main
