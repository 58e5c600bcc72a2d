using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sockeye.Hosting;
using Sockeye.Tests.Support;
using Sockeye.Udp;

namespace Sockeye.Tests.Hosting;

public class HostedUdpListenerTests
{
    [Fact]
    public async Task AHostedUdpListenerAnswersDatagramsAndStopsWithTheHost()
    {
        using var host = TestHost.Build(s => s
            .AddListener("tcp", Sockeye.Handlers.EchoHandler.Instance)
            .AddUdpListener("upper", datagram => datagram.ReplyAsync(Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(datagram.Payload.Span).ToUpperInvariant()))));

        await host.StartAsync().WaitAsync(Loopback.Patience);
        var listener = host.Listener("upper");
        Assert.True(listener.IsUdp);
        Assert.Equal(ServerState.Listening, listener.State);
        using var client = UdpLoopback.Connect(listener.LocalEndPoint!);
        Assert.Equal("PING", Encoding.ASCII.GetString(await client.RoundTripAsync("ping"u8.ToArray())));
        Assert.Equal(2, host.Services.GetRequiredService<SockeyeListeners>().Count);
        // The reply reaches the client before the handler's task has finished: a stop in that window
        // drains one handler (Open = Drained = 1, CI once). Wait for it, so the stop below is an idle one.
        await Loopback.EventuallyAsync(() => listener.UdpServer!.HandlersInFlight == 0, "the handler that replied finishes");

        await host.StopAsync().WaitAsync(Loopback.Patience);

        Assert.Equal(ServerState.Stopped, listener.UdpServer!.State);
        Assert.Equal(ServerState.Stopped, host.Listener("tcp").Server.State);
        Assert.Equal(new ShutdownSummary(0, 0, 0, listener.ShutdownSummary!.Value.Elapsed), listener.ShutdownSummary);

        // Nothing receives on the port any more: the kernel answers with ICMP port unreachable. A few
        // tries, each waiting a second: in a full run the suite's other UDP tests send too, and one
        // unanswered datagram (an ICMP error the kernel's global rate limit held back) timed out once.
        SocketError? outcome = null;
        for (var attempt = 0; attempt < 5 && outcome != SocketError.ConnectionRefused; attempt++)
        {
            // A fresh socket each time: a receive abandoned by a timeout would take the next error.
            using var probe = attempt == 0 ? client : UdpLoopback.Connect(listener.LocalEndPoint!);
            try
            {
                await probe.RoundTripAsync("ping"u8.ToArray(), TimeSpan.FromSeconds(1));
                outcome = SocketError.Success; // something answered: the listener is still there
                break;
            }
            catch (SocketException ex)
            {
                outcome = ex.SocketErrorCode;
            }
            catch (TimeoutException)
            {
                outcome = SocketError.TimedOut;
            }
        }

        Assert.Equal(SocketError.ConnectionRefused, outcome);
    }

    [Fact]
    public async Task AUdpListenerOnlyTheConfigurationDescribesServesUdpEchoWithItsBoundOptions()
    {
        using var host = TestHost.Build(settings: new Dictionary<string, string?>
        {
            ["Sockeye:Listeners:dgram:Protocol"] = "udp-echo",
            ["Sockeye:Listeners:dgram:Port"] = "0",
            ["Sockeye:Listeners:dgram:MaxDatagramSize"] = "100",
            ["Sockeye:Listeners:dgram:ReceiveSockets"] = "1",
            ["Sockeye:Listeners:dgram:MaxConcurrentHandlers"] = "16",
        });

        await host.StartAsync().WaitAsync(Loopback.Patience);
        var listener = host.Listener("dgram");
        using var client = UdpLoopback.Connect(listener.LocalEndPoint!);
        await client.SendAsync(new byte[101]); // over MaxDatagramSize: dropped
        Assert.Equal("hello", Encoding.ASCII.GetString(await client.RoundTripAsync("hello"u8.ToArray())));

        Assert.Equal("udp-echo", listener.Protocol);
        Assert.Equal(1, listener.UdpServer!.ReceiveSockets);
        Assert.Equal(16, listener.Options.Udp.MaxConcurrentHandlers);
        Assert.Equal(1, listener.UdpServer.OversizeDrops);
        Assert.Throws<InvalidOperationException>(() => listener.Server);
        await host.StopAsync().WaitAsync(Loopback.Patience);
    }

    [Fact]
    public async Task AUdpHandlerRunningWhenTheHostStopsStillRepliesBeforeTheSocketsClose()
    {
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = TestHost.Build(s => s.AddUdpListener("work", async datagram =>
        {
            received.SetResult();
            await Task.Delay(300); // work that outlives the start of the shutdown
            await datagram.ReplyAsync("done"u8.ToArray());
        }));
        await host.StartAsync().WaitAsync(Loopback.Patience);
        using var client = UdpLoopback.Connect(host.Listener("work").LocalEndPoint!);
        await client.SendAsync("work"u8.ToArray());
        await received.Task.WaitAsync(Loopback.Patience);

        var stopping = host.StopAsync();
        var reply = new byte[16];
        var length = await client.ReceiveAsync(reply.AsMemory()).AsTask().WaitAsync(Loopback.Patience);
        await stopping.WaitAsync(Loopback.Patience);

        Assert.Equal("done", Encoding.ASCII.GetString(reply, 0, length));
        Assert.Equal(new ShutdownSummary(1, 1, 0, host.Listener("work").ShutdownSummary!.Value.Elapsed), host.Listener("work").ShutdownSummary);
    }

    [Fact]
    public async Task TheDrainTimeoutComesFromTheConfigurationWhenItIsSet()
    {
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = TestHost.Build(
            s =>
            {
                s.DrainTimeout = TimeSpan.FromSeconds(15); // the configuration overrides it
                s.AddUdpListener("stubborn", async _ =>
                {
                    received.SetResult();
                    await release.Task; // ignores ShutdownRequested
                });
            },
            settings: new Dictionary<string, string?> { ["Sockeye:DrainTimeout"] = "300ms" });
        await host.StartAsync().WaitAsync(Loopback.Patience);
        using var client = UdpLoopback.Connect(host.Listener("stubborn").LocalEndPoint!);
        await client.SendAsync("x"u8.ToArray());
        await received.Task.WaitAsync(Loopback.Patience);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await host.StopAsync().WaitAsync(Loopback.Patience);
        release.SetResult();

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the drain took {clock.Elapsed}, not about 300 ms");
        Assert.Equal(1, host.Listener("stubborn").ShutdownSummary!.Value.Aborted);
    }

    [Fact]
    public async Task AUdpHandlerClassIsBuiltFromTheServicesOnceAndDisposedWhenTheListenerStops()
    {
        var log = new DisposalLog();
        using var host = TestHost.Build(
            s => s.AddUdpListener<CountingHandler>("count"),
            services: services => services.AddSingleton(log));
        await host.StartAsync().WaitAsync(Loopback.Patience);
        using var client = UdpLoopback.Connect(host.Listener("count").LocalEndPoint!);

        Assert.Equal("1", Encoding.ASCII.GetString(await client.RoundTripAsync("a"u8.ToArray())));
        Assert.Equal("2", Encoding.ASCII.GetString(await client.RoundTripAsync("b"u8.ToArray())));
        Assert.Equal(0, log.Disposed);

        await host.StopAsync().WaitAsync(Loopback.Patience);
        Assert.Equal(1, log.Disposed);
        Assert.Equal(nameof(CountingHandler), host.Listener("count").Protocol);
    }

    [Fact]
    public async Task AUdpPortInUseStopsTheStartNamingTheListenerAndClosesTheOthers()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        taken.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)taken.LocalEndPoint!).Port;
        var log = new DisposalLog();
        using var host = TestHost.Build(
            s => s
                .AddUdpListener<CountingHandler>("first")
                .AddUdpListener("second", Sockeye.Handlers.DatagramEchoHandler.Instance, o => o.Port = port),
            services: services => services.AddSingleton(log));

        var ex = await Assert.ThrowsAsync<IOException>(() => host.StartAsync().WaitAsync(Loopback.Patience));

        Assert.Equal($"Sockeye listener 'second': cannot receive UDP on 127.0.0.1:{port}: the address is already in use", ex.Message);
        Assert.Equal(0, host.Services.GetRequiredService<SockeyeListeners>().Count);
        Assert.Equal(1, log.Disposed); // the first listener was stopped, and its handler with it
    }

    [Theory]
    [InlineData("MaxDatagramSize", "huge", "Sockeye:Listeners:dgram:MaxDatagramSize must be a whole number, got 'huge'")]
    [InlineData("MaxDatagramSize", "70000", "Sockeye:Listeners:dgram:MaxDatagramSize must be between 1 and 65507, got 70000")]
    [InlineData("ReceiveSockets", "0", "Sockeye:Listeners:dgram:ReceiveSockets must be between 1 and 256, got 0")]
    [InlineData("ReceiveBufferSize", "-1", "Sockeye:Listeners:dgram:ReceiveBufferSize must be positive, got -1")]
    [InlineData("MaxConnections", "10", "Sockeye:Listeners:dgram:MaxConnections is not a UDP listener option (the options are Host, Port, Protocol, SystemdSocket, ReceiveSockets, MaxDatagramSize, ")]
    public async Task ABadUdpOptionStopsTheStartWithAMessageNamingTheKeyAndTheValue(string key, string value, string message)
    {
        using var host = TestHost.Build(settings: new Dictionary<string, string?>
        {
            ["Sockeye:Listeners:fine:Protocol"] = "echo",
            ["Sockeye:Listeners:dgram:Protocol"] = "udp-echo",
            [$"Sockeye:Listeners:dgram:{key}"] = value,
        });

        var ex = await Assert.ThrowsAsync<SockeyeConfigurationException>(() => host.StartAsync().WaitAsync(Loopback.Patience));

        Assert.StartsWith(message, ex.Message, StringComparison.Ordinal);
        Assert.Equal($"Sockeye:Listeners:dgram:{key}", ex.Key);
        Assert.Equal(0, host.Services.GetRequiredService<SockeyeListeners>().Count); // nothing was bound
    }

    [Fact]
    public async Task ABadDrainTimeoutInTheConfigurationStopsTheStartNamingTheKey()
    {
        using var host = TestHost.Build(
            s => s.AddUdpListener("dgram", Sockeye.Handlers.DatagramEchoHandler.Instance),
            settings: new Dictionary<string, string?> { ["Sockeye:DrainTimeout"] = "a while" });

        var ex = await Assert.ThrowsAsync<SockeyeConfigurationException>(() => host.StartAsync().WaitAsync(Loopback.Patience));

        Assert.StartsWith("Sockeye:DrainTimeout is not a duration", ex.Message, StringComparison.Ordinal);
        Assert.EndsWith("got 'a while'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AUdpListenerSetInCodeTakesItsOptionsFromCodeThenConfiguration()
    {
        using var host = TestHost.Build(
            s => s.AddUdpListener("dgram", Sockeye.Handlers.DatagramEchoHandler.Instance, o =>
            {
                o.Udp.MaxDatagramSize = 512;      // overridden below
                o.Udp.MaxConcurrentHandlers = 8;  // only code sets it: kept
            }),
            settings: new Dictionary<string, string?> { ["Sockeye:Listeners:dgram:MaxDatagramSize"] = "2048" });

        await host.StartAsync().WaitAsync(Loopback.Patience);

        Assert.Equal(2048, host.Listener("dgram").Options.Udp.MaxDatagramSize);
        Assert.Equal(8, host.Listener("dgram").Options.Udp.MaxConcurrentHandlers);
        await host.StopAsync().WaitAsync(Loopback.Patience);
    }

    private sealed class DisposalLog
    {
        private int _disposed;

        public int Disposed => Volatile.Read(ref _disposed);

        public void Add() => Interlocked.Increment(ref _disposed);
    }

    private sealed class CountingHandler(DisposalLog log) : IDatagramHandler, IDisposable
    {
        private int _count;

        public ValueTask HandleAsync(Datagram datagram) =>
            datagram.ReplyAsync(Encoding.ASCII.GetBytes(Interlocked.Increment(ref _count).ToString(System.Globalization.CultureInfo.InvariantCulture)));

        public void Dispose() => log.Add();
    }
}
