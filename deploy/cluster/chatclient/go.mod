module sockeye.dev/deploy/cluster/chatclient

go 1.19
