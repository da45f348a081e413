module orca/netbench

go 1.19

// golang.org/x/time/rate, the peer of limiter_local: Debian's golang-golang-x-time-dev
// (bench/run installs it), used from where Debian puts it, so the build stays offline.
require golang.org/x/time v0.3.0

replace golang.org/x/time => /usr/share/gocode/src/golang.org/x/time
