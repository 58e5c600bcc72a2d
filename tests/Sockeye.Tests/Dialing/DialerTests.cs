using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sockeye.Dialing;
using Sockeye.Handlers;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Dialing;

public class DialerTests
{
    [Fact]
    public async Task DialedConnectionEchoesThroughTheSamePipesAsTheServerSide()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);

        await using var connection = await new Dialer().DialAsync($"localhost:{server.LocalEndPoint!.Port}").WaitAsync(Loopback.Patience);

        Assert.Equal(server.LocalEndPoint, connection.RemoteEndPoint);
        Assert.Equal("hello", await RoundTripAsync(connection, "hello"));
        Assert.Equal("again", await RoundTripAsync(connection, "again"));
    }

    [Fact]
    public async Task DialsAnIpEndPointAndADnsEndPoint()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        var dialer = new Dialer();

        await using var byAddress = await dialer.DialAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);
        await using var byName = await dialer.DialAsync(new DnsEndPoint("localhost", server.LocalEndPoint!.Port)).WaitAsync(Loopback.Patience);

        Assert.Equal("a", await RoundTripAsync(byAddress, "a"));
        Assert.Equal("b", await RoundTripAsync(byName, "b"));
    }

    [Fact]
    public async Task ConnectsFromTheConfiguredLocalAddress()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(EchoHandler.Instance);
        var source = IPAddress.Parse("127.0.0.3");

        await using var connection = await new Dialer { LocalAddress = source }.DialAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);

        Assert.Equal(source, ((IPEndPoint)connection.LocalEndPoint!).Address);
        Assert.Equal("from .3", await RoundTripAsync(connection, "from .3"));
    }

    [Fact]
    public async Task RefusedPortThrowsConnectionRefusedCarryingTheTarget()
    {
        var port = ClosedPort();

        var error = await Assert.ThrowsAsync<ConnectionRefusedException>(() => new Dialer().DialAsync($"127.0.0.1:{port}").WaitAsync(Loopback.Patience));

        Assert.Equal($"127.0.0.1:{port}", error.Target);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), error.EndPoint);
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, error.Attempts);
    }

    [Fact]
    public async Task NameThatDoesNotResolveThrowsHostNotFoundCarryingTheTarget()
    {
        var error = await Assert.ThrowsAsync<HostNotFoundException>(() => new Dialer().DialAsync("no-such-host.invalid:7000").WaitAsync(Loopback.Patience));

        Assert.Equal("no-such-host.invalid:7000", error.Target);
        Assert.Null(error.EndPoint);
        Assert.Contains("no-such-host.invalid", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectToAFullBacklogTimesOutWithConnectTimeout()
    {
        using var unreachable = await FullBacklogListener.StartAsync(IPAddress.Loopback);
        var dialer = new Dialer { ConnectTimeout = TimeSpan.FromMilliseconds(500) };

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<ConnectTimeoutException>(() => dialer.DialAsync(unreachable.EndPoint).WaitAsync(Loopback.Patience));

        Assert.Equal(unreachable.EndPoint.ToString(), error.Target);
        Assert.Equal(TimeSpan.FromMilliseconds(500), error.Timeout);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(450), $"gave up after {clock.Elapsed}, before the timeout");
    }

    [Fact]
    public async Task MovesToTheNextAddressWhenOneDoesNotAnswerWithinTheAttemptTimeout()
    {
        // The same port on two loopback addresses: 127.0.0.1 drops SYNs, 127.0.0.2 echoes.
        await using var server = new TcpServer(new TcpServerOptions { EndPoint = new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0) });
        await server.StartAsync(EchoHandler.Instance);
        var port = server.LocalEndPoint!.Port;
        using var unreachable = await FullBacklogListener.StartAsync(IPAddress.Loopback, port);
        var dialer = new Dialer { AttemptTimeout = TimeSpan.FromMilliseconds(300), ConnectTimeout = TimeSpan.FromSeconds(20) };

        await using var connection = await dialer.DialAsync([IPAddress.Loopback, IPAddress.Parse("127.0.0.2")], port).WaitAsync(Loopback.Patience);

        Assert.Equal(server.LocalEndPoint, connection.RemoteEndPoint);
        Assert.Equal("second", await RoundTripAsync(connection, "second"));
    }

    [Fact]
    public async Task RetriesARefusedDialUpToMaxAttemptsThenThrowsTheLastError()
    {
        var port = ClosedPort();
        var retries = new List<(int Attempt, TimeSpan Delay)>();
        var dialer = new Dialer
        {
            Reconnect = new ReconnectPolicy
            {
                MaxAttempts = 3,
                InitialDelay = TimeSpan.FromMilliseconds(10),
                OnRetry = (_, attempt, delay) => retries.Add((attempt, delay)),
            },
        };

        var error = await Assert.ThrowsAsync<ConnectionRefusedException>(() => dialer.DialAsync($"127.0.0.1:{port}").WaitAsync(Loopback.Patience));

        Assert.Equal(3, error.Attempts);
        Assert.Equal([1, 2], retries.Select(r => r.Attempt));
    }

    [Fact]
    public async Task ReconnectsAfterTheServerRestarts()
    {
        var first = new TcpServer(new TcpServerOptions());
        await first.StartAsync(EchoHandler.Instance);
        var endPoint = first.LocalEndPoint!;
        var refusedWhileDown = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var dialer = new Dialer
        {
            Reconnect = new ReconnectPolicy
            {
                MaxAttempts = 200,
                InitialDelay = TimeSpan.FromMilliseconds(20),
                MaxDelay = TimeSpan.FromMilliseconds(100),
                OnRetry = (error, _, _) =>
                {
                    if (error is ConnectionRefusedException)
                    {
                        refusedWhileDown.TrySetResult();
                    }
                },
            },
        };

        var connection = await dialer.DialAsync(endPoint).WaitAsync(Loopback.Patience);
        Assert.Equal("before", await RoundTripAsync(connection, "before"));

        // The server goes away: the client sees the end of its stream.
        await first.StopAsync(TimeSpan.FromSeconds(5)).WaitAsync(Loopback.Patience);
        var end = await connection.Input.ReadAsync().AsTask().WaitAsync(Loopback.Patience);
        Assert.True(end.IsCompleted);
        await connection.DisposeAsync();

        // The client redials while the server is down (refused), and gets through once it is back.
        var redial = dialer.DialAsync(endPoint);
        await refusedWhileDown.Task.WaitAsync(Loopback.Patience);
        Assert.False(redial.IsCompleted);
        await using var second = new TcpServer(new TcpServerOptions { EndPoint = endPoint });
        await second.StartAsync(EchoHandler.Instance);

        await using var reconnected = await redial.WaitAsync(Loopback.Patience);
        Assert.Equal("after", await RoundTripAsync(reconnected, "after"));
    }

    [Fact]
    public async Task CancellingTheCallersTokenThrowsOperationCanceledNotATimeout()
    {
        using var unreachable = await FullBacklogListener.StartAsync(IPAddress.Loopback);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new Dialer().DialAsync(unreachable.EndPoint, cancel.Token).WaitAsync(Loopback.Patience));
    }

    [Fact]
    public async Task DisposingADialedConnectionFlushesAndSendsFinToTheServer()
    {
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            // Read to the end of the stream: only the client's FIN completes this.
            while (true)
            {
                var result = await connection.Input.ReadAsync();
                if (result.IsCompleted)
                {
                    received.TrySetResult(Encoding.ASCII.GetString(result.Buffer.ToArray()));
                    return;
                }

                connection.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
        });

        var client = await new Dialer().DialAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);
        client.Output.Write("last words"u8);
        await client.DisposeAsync().AsTask().WaitAsync(Loopback.Patience);
        await client.DisposeAsync().AsTask().WaitAsync(Loopback.Patience); // a second dispose is harmless

        Assert.Equal("last words", await received.Task.WaitAsync(Loopback.Patience));
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = client.ConnectionClosed.Register(() => closed.TrySetResult());
        await closed.Task.WaitAsync(Loopback.Patience);
    }

    [Fact]
    public async Task HandlerThatDisposesItsConnectionEarlyIsNotAFault()
    {
        await using var server = new TcpServer(new TcpServerOptions());
        await server.StartAsync(async connection =>
        {
            await using (connection)
            {
                var result = await connection.Input.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    await connection.Output.WriteAsync(segment);
                }

                connection.Input.AdvanceTo(result.Buffer.End);
            }
        });

        await using var client = await new Dialer().DialAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);
        Assert.Equal("once", await RoundTripAsync(client, "once"));
        var end = await client.Input.ReadAsync().AsTask().WaitAsync(Loopback.Patience);

        Assert.True(end.IsCompleted);
        await Loopback.EventuallyAsync(() => server.ActiveConnections == 0, "the server releases the connection");
        Assert.Equal(0, server.HandlerErrors);
    }

    [Theory]
    [InlineData("localhost:7000", "localhost", 7000)]
    [InlineData("10.0.0.1:1", "10.0.0.1", 1)]
    [InlineData("[::1]:65535", "::1", 65535)]
    public void ParsesHostAndPort(string address, string host, int port)
    {
        Assert.Equal((host, port), Dialer.ParseAddress(address));
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("localhost:")]
    [InlineData(":7000")]
    [InlineData("::1:7000")]
    [InlineData("localhost:0")]
    [InlineData("localhost:70000")]
    [InlineData("localhost:http")]
    public void RejectsAddressesThatAreNotHostAndPort(string address)
    {
        var error = Assert.Throws<ArgumentException>(() => Dialer.ParseAddress(address));
        Assert.Contains(address, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BackoffDoublesFromTheInitialDelayUpToTheCapWithinTheJitter()
    {
        var policy = new ReconnectPolicy { InitialDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(1), Jitter = 0.2 };

        // random = 0.5 is the middle of the jitter range: no spread.
        Assert.Equal(TimeSpan.FromMilliseconds(100), policy.DelayBefore(1, 0.5));
        Assert.Equal(TimeSpan.FromMilliseconds(200), policy.DelayBefore(2, 0.5));
        Assert.Equal(TimeSpan.FromMilliseconds(800), policy.DelayBefore(4, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(1), policy.DelayBefore(5, 0.5));
        Assert.Equal(TimeSpan.FromSeconds(1), policy.DelayBefore(1000, 0.5));

        // The extremes of the random number give ±20%.
        Assert.Equal(TimeSpan.FromMilliseconds(80), policy.DelayBefore(1, 0.0));
        Assert.Equal(TimeSpan.FromMilliseconds(120), policy.DelayBefore(1, 1.0));
        for (var retry = 1; retry < 20; retry++)
        {
            var delay = policy.DelayBefore(retry);
            Assert.InRange(delay, TimeSpan.FromMilliseconds(80), TimeSpan.FromMilliseconds(1200));
        }
    }

    private static async Task<string> RoundTripAsync(Connection connection, string message)
    {
        await connection.Output.WriteAsync(Encoding.ASCII.GetBytes(message)).AsTask().WaitAsync(Loopback.Patience);
        return Encoding.ASCII.GetString(await connection.Input.ReceiveExactlyAsync(message.Length));
    }

    /// <summary>A port on 127.0.0.1 with nothing listening: bound once by us, then released.</summary>
    internal static int ClosedPort() => Loopback.FreePort();
}
