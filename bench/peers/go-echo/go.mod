module sockeye/bench/go-echo

go 1.19
