module orca/netbench

go 1.19
