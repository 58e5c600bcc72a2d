using System.CommandLine;
using Sockeye.Bench;
using Sockeye.Cli.Commands;

namespace Sockeye.Tests.Bench;

public class ChildProcessTests
{
    [Theory]
    [InlineData(19_000, 2)]
    [InlineData(10_001, 3)]
    [InlineData(5, 5)]
    public void SharesAddUpToTheConnectionsAskedFor(int connections, int processes)
    {
        var shares = Enumerable.Range(0, processes).Select(i => ChildParticipant.Share(connections, i, processes)).ToList();
        Assert.Equal(connections, shares.Sum());
        Assert.True(shares.Max() - shares.Min() <= 1);
    }

    [Fact]
    public void ChildCommandLineCarriesItsShareOfConnectionsAndRate()
    {
        Assert.True(SourceAddresses.TryParse("127.0.0.1-127.0.0.4", out var sources, out _));
        var settings = new BenchSettings { Mode = BenchMode.Echo, Port = 9000, Connections = 1000, Rate = 10_000, SourceAddresses = sources, Processes = 2 };
        var arguments = ChildParticipant.Arguments(settings, 1, 2).ToList();
        Assert.Equal("500", arguments[arguments.IndexOf("--connections") + 1]);
        Assert.Equal("5000", arguments[arguments.IndexOf("--rate") + 1]);
        Assert.Equal("127.0.0.2,127.0.0.4", arguments[arguments.IndexOf("--source-ips") + 1]);
        Assert.Contains("--child", arguments);
        Assert.DoesNotContain("--server-pid", arguments);
    }

    [Theory]
    [InlineData(IoEngine.Epoll, "epoll")]
    [InlineData(IoEngine.Sockets, "sockets")]
    public void IdleChildrenHoldTheirConnectionsOnTheEngineTheParentWasGiven(IoEngine engine, string expected)
    {
        var settings = new BenchSettings { Mode = BenchMode.Idle, Port = 9000, Connections = 1000, Processes = 2, IoEngine = engine };
        var arguments = ChildParticipant.Arguments(settings, 0, 2).ToList();
        Assert.Equal(expected, arguments[arguments.IndexOf("--io-engine") + 1]);
        Assert.DoesNotContain("--io-engine", ChildParticipant.Arguments(settings with { IoEngine = IoEngine.Default }, 0, 2));
    }

    [Fact]
    public void IdleChildrenLingerAsLongAsTheParent()
    {
        var settings = new BenchSettings { Mode = BenchMode.Idle, Port = 9000, Connections = 1000, Processes = 2, Linger = TimeSpan.FromSeconds(90) };
        var arguments = ChildParticipant.Arguments(settings, 1, 2).ToList();
        Assert.Equal("90000ms", arguments[arguments.IndexOf("--linger") + 1]);
        var parse = new RootCommand { BenchCommand.Create() }.Parse(arguments.ToArray());
        Assert.Empty(parse.Errors);
        Assert.DoesNotContain("--linger", ChildParticipant.Arguments(settings with { Linger = TimeSpan.Zero }, 1, 2));
    }

    [Theory]
    [InlineData("Echo")]
    [InlineData("Idle")]
    [InlineData("Churn")]
    public void ChildCommandLineIsAcceptedByTheChildsOwnCommand(string mode)
    {
        var settings = new BenchSettings { Mode = Enum.Parse<BenchMode>(mode), Port = 9000, Connections = 19_000, Processes = 2 };
        var root = new RootCommand { BenchCommand.Create() };
        var parse = root.Parse(ChildParticipant.Arguments(settings, 0, 2).ToArray());
        Assert.Empty(parse.Errors);
    }
}
