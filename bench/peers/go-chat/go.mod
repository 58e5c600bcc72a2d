module sockeye/bench/go-chat

go 1.19
