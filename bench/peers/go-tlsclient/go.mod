module sockeye/bench/go-tlsclient

go 1.19
