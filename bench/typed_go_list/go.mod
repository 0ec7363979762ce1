module libcluster.dev/typedgolist

go 1.19
