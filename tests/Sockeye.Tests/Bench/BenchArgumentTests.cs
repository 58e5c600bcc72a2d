using System.CommandLine;
using Sockeye.Bench;
using Sockeye.Cli.Commands;

namespace Sockeye.Tests.Bench;

public class BenchArgumentTests
{
    private static List<string> Errors(string commandLine)
    {
        var root = new Command("sockeye") { BenchCommand.Create() };
        return root.Parse(commandLine).Errors.Select(e => e.Message).ToList();
    }

    [Theory]
    [InlineData("bench echo")]
    [InlineData("bench echo --connections 1000 --size 4KiB --duration 30s --warmup 0 --depth 4 --rate 5000 --source-ips 127.0.0.1-127.0.0.40 --processes 2 --json")]
    [InlineData("bench idle --connections 19000 --duration 1m --processes 2")]
    [InlineData("bench idle --io-engine sockets --tls")]
    [InlineData("bench idle --linger 3m --processes 2")]
    [InlineData("bench echo --processes 4")]
    [InlineData("bench idle --io-engine epoll --source-ips 127.0.0.1-127.0.0.4")]
    [InlineData("bench churn --connections 20 --reset --unix /tmp/echo.sock")]
    public void AcceptsWellFormedCommandLines(string commandLine) => Assert.Empty(Errors(commandLine));

    [Theory]
    [InlineData("bench echo --connections 0", "--connections must be at least 1")]
    [InlineData("bench echo --size 0", "--size must be between 1 byte and 16MiB")]
    [InlineData("bench echo --size 17MiB", "--size must be between 1 byte and 16MiB")]
    [InlineData("bench echo --duration 0", "--duration must be longer than zero")]
    [InlineData("bench echo --depth 0", "--depth must be at least 1")]
    [InlineData("bench echo --rate -5", "--rate must be a positive number")]
    [InlineData("bench echo --port 70000", "--port must be between 0 and 65535")]
    [InlineData("bench echo --host localhost", "--host must be an IP address")]
    [InlineData("bench echo --source-ips 127.0.0.9-127.0.0.1", "ends before it starts")]
    [InlineData("bench echo --source-ips 127.0.0.x", "is not an IP address")]
    [InlineData("bench echo --connections 2 --processes 3", "--processes 3 is more than --connections 2")]
    [InlineData("bench idle --rate 100", "Unrecognized command or argument '--rate'")]
    [InlineData("bench churn --depth 2", "Unrecognized command or argument '--depth'")]
    [InlineData("bench idle --io-engine epoll --tls", "--io-engine epoll holds plain TCP connections; --tls needs --io-engine sockets")]
    [InlineData("bench idle --io-engine epoll --unix /tmp/echo.sock", "--unix needs --io-engine sockets")]
    [InlineData("bench idle --io-engine poll", "poll")]
    [InlineData("bench echo --io-engine epoll", "Unrecognized command or argument '--io-engine'")]
    [InlineData("bench echo --linger 10s", "Unrecognized command or argument '--linger'")]
    [InlineData("bench idle --linger forever", "--linger")]
    public void RefusesBadArgumentsNamingTheOptionAndTheValue(string commandLine, string expected)
    {
        var errors = Errors(commandLine);
        Assert.Contains(errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void ServerPidMustNameARunningProcess()
    {
        Assert.Empty(Errors($"bench idle --server-pid {Environment.ProcessId}"));
        Assert.Contains(Errors("bench idle --server-pid 2147483646"), e => e.Contains("no such process", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("bench udp")]
    [InlineData("bench udp --clients 8 --window 1 --size 8 --duration 5s --loss-timeout 100ms --json --quiet")]
    public void UdpAcceptsWellFormedCommandLines(string commandLine) => Assert.Empty(Errors(commandLine));

    [Theory]
    [InlineData("bench udp --size 7", "--size must be between 8 and 65507 bytes, got 7")]
    [InlineData("bench udp --clients 0", "--clients must be at least 1")]
    [InlineData("bench udp --loss-timeout 0", "--loss-timeout must be positive")]
    [InlineData("bench udp --server-pid 2147483646", "no such process")]
    [InlineData("bench udp --processes 2", "Unrecognized command or argument '--processes'")]
    public void UdpRefusesBadArgumentsNamingTheOptionAndTheValue(string commandLine, string expected) =>
        Assert.Contains(Errors(commandLine), e => e.Contains(expected, StringComparison.Ordinal));

    [Theory]
    [InlineData("bench fanout")]
    [InlineData("bench fanout --rooms 5")] // Against the default 1,000 subscribers.
    [InlineData("bench fanout --subscribers 5000 --rooms 50 --publishers 10 --rate 20.5 --size 1KiB --duration 30s --warmup 0 --source-ips 127.0.0.1-127.0.0.4 --json --quiet")]
    public void FanoutAcceptsWellFormedCommandLines(string commandLine) => Assert.Empty(Errors(commandLine));

    [Theory]
    [InlineData("bench fanout --subscribers 0", "--subscribers must be at least 1, got 0")]
    [InlineData("bench fanout --rooms 0", "--rooms must be at least 1, got 0")]
    [InlineData("bench fanout --publishers 0", "--publishers must be at least 1, got 0")]
    [InlineData("bench fanout --rate 0", "--rate must be a positive number of messages per second per publisher, got 0")]
    [InlineData("bench fanout --rate -3", "--rate must be a positive number of messages per second per publisher, got -3")]
    [InlineData("bench fanout --size 0", "--size must be between 1 and 4000 bytes (the protocol's line limit is 4096), got 0")]
    [InlineData("bench fanout --size 4001", "--size must be between 1 and 4000 bytes")]
    [InlineData("bench fanout --subscribers 3 --rooms 4", "--rooms 4 is more than --subscribers 3")]
    [InlineData("bench fanout --rooms 1001", "--rooms 1001 is more than --subscribers 1000")]
    [InlineData("bench fanout --duration 0", "--duration must be longer than zero")]
    [InlineData("bench fanout --host chat.example", "--host must be an IP address, got 'chat.example'")]
    [InlineData("bench fanout --connections 10", "Unrecognized command or argument '--connections'")]
    [InlineData("bench fanout --processes 2", "Unrecognized command or argument '--processes'")]
    public void FanoutRefusesBadArgumentsNamingTheOptionAndTheValue(string commandLine, string expected) =>
        Assert.Contains(Errors(commandLine), e => e.Contains(expected, StringComparison.Ordinal));
}
