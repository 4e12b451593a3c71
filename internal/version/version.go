// Package version holds berth's version, set at build time with -ldflags.
package version

// Version is berth's version.
var Version = "dev"
