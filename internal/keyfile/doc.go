// Package keyfile checks that a private key (or other secret) file is not
// open to group or others before it is read: the gateway refuses such files
// everywhere with one message.
package keyfile
