// Package mailfmt is shared by the mailbox connectors that read Microsoft
// formats (Graph and EWS): Windows time-zone names and HTML bodies. One
// copy, so both ends turn the same input into the same content hash.
package mailfmt
