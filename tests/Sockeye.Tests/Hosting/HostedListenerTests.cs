using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sockeye.Hosting;
using Sockeye.Tests.Support;

namespace Sockeye.Tests.Hosting;

public class HostedListenerTests
{
    [Fact]
    public async Task TheHostStartsTheListenerAndStopsItOnShutdown()
    {
        using var host = TestHost.Build(s => s.AddListener("echo", Sockeye.Handlers.EchoHandler.Instance));

        await host.StartAsync().WaitAsync(Loopback.Patience);
        var listener = host.Listener("echo");
        Assert.Equal(ServerState.Listening, listener.Server.State);
        using (var client = await Loopback.ConnectAsync(listener.LocalEndPoint!))
        {
            await client.SendAllAsync("ping"u8.ToArray());
            Assert.Equal("ping", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(4)));
        }

        await host.StopAsync().WaitAsync(Loopback.Patience);

        Assert.Equal(ServerState.Stopped, listener.Server.State);
        var refused = await Assert.ThrowsAsync<SocketException>(() => Loopback.ConnectAsync(listener.LocalEndPoint!));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task AConnectedClientsInFlightRequestCompletesWhenTheHostStops()
    {
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = TestHost.Build(s => s.AddListener("work", async connection =>
        {
            var result = await connection.Input.ReadAtLeastAsync(4);
            connection.Input.AdvanceTo(result.Buffer.End);
            received.SetResult();

            // Work that outlives the start of the shutdown.
            await Task.Delay(300);
            await connection.Output.WriteAsync("done"u8.ToArray());
        }));
        await host.StartAsync().WaitAsync(Loopback.Patience);
        using var client = await Loopback.ConnectAsync(host.Listener("work").LocalEndPoint!);
        await client.SendAllAsync("work"u8.ToArray());
        await received.Task.WaitAsync(Loopback.Patience);

        var stopping = host.StopAsync();
        var reply = await client.ReceiveExactlyAsync(4);
        await stopping.WaitAsync(Loopback.Patience);

        Assert.Equal("done", Encoding.ASCII.GetString(reply));
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
        Assert.Equal(new ShutdownSummary(1, 1, 0, host.Listener("work").ShutdownSummary!.Value.Elapsed), host.Listener("work").ShutdownSummary);
    }

    [Theory]
    [InlineData(300, 30_000)] // the host's shutdown timeout ends the drain
    [InlineData(20_000, 300)] // Sockeye's DrainTimeout ends it
    public async Task HandlersThatDoNotFinishAreAbortedAtTheHostsShutdownTimeoutOrTheDrainTimeout(int hostTimeoutMs, int drainTimeoutMs)
    {
        var accepted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = TestHost.Build(
            s =>
            {
                s.DrainTimeout = TimeSpan.FromMilliseconds(drainTimeoutMs);
                s.AddListener("stubborn", async connection =>
                {
                    accepted.SetResult();
                    await Task.Delay(Timeout.Infinite, connection.ConnectionClosed); // ignores ShutdownRequested
                });
            },
            shutdownTimeout: TimeSpan.FromMilliseconds(hostTimeoutMs));
        await host.StartAsync().WaitAsync(Loopback.Patience);
        using var client = await Loopback.ConnectAsync(host.Listener("stubborn").LocalEndPoint!);
        await accepted.Task.WaitAsync(Loopback.Patience);

        await host.StopAsync().WaitAsync(Loopback.Patience);

        Assert.Equal(SocketError.ConnectionReset, await client.ReceiveEndAsync());
        Assert.Equal(1, host.Listener("stubborn").ShutdownSummary!.Value.Aborted);
    }

    [Fact]
    public async Task AHandlerClassGetsItsOwnScopeAndItsScopedServicesAreDisposedWhenTheConnectionEnds()
    {
        var sessions = new SessionLog();
        using var host = TestHost.Build(
            s => s.AddListener<SessionHandler>("sessions"),
            services: services =>
            {
                services.AddSingleton(sessions);
                services.AddScoped<Session>();
            });
        await host.StartAsync().WaitAsync(Loopback.Patience);
        var endPoint = host.Listener("sessions").LocalEndPoint!;

        using var first = await Loopback.ConnectAsync(endPoint);
        using var second = await Loopback.ConnectAsync(endPoint);
        var firstId = Encoding.ASCII.GetString(await first.ReceiveExactlyAsync(36));
        var secondId = Encoding.ASCII.GetString(await second.ReceiveExactlyAsync(36));
        Assert.NotEqual(firstId, secondId);
        Assert.Empty(sessions.Disposed);

        first.Shutdown(SocketShutdown.Send);
        Assert.Equal(SocketError.Success, await first.ReceiveEndAsync());
        await Loopback.EventuallyAsync(() => sessions.Disposed.Contains(firstId), "the first connection's scope is disposed");
        Assert.DoesNotContain(secondId, sessions.Disposed);
        Assert.True(sessions.HandlersDisposed >= 1, "the handler created for the connection was not disposed");

        await host.StopAsync().WaitAsync(Loopback.Patience);
        Assert.Contains(secondId, sessions.Disposed);
    }

    [Fact]
    public async Task AListenerOnlyTheConfigurationDescribesServesItsProtocol()
    {
        using var host = TestHost.Build(settings: new Dictionary<string, string?>
        {
            ["Sockeye:Listeners:cfg:Protocol"] = "echo",
            ["Sockeye:Listeners:cfg:Port"] = "0",
        });

        await host.StartAsync().WaitAsync(Loopback.Patience);
        using var client = await Loopback.ConnectAsync(host.Listener("cfg").LocalEndPoint!);
        await client.SendAllAsync("hello"u8.ToArray());

        Assert.Equal("hello", Encoding.ASCII.GetString(await client.ReceiveExactlyAsync(5)));
        Assert.Equal("echo", host.Listener("cfg").Protocol);
        await host.StopAsync().WaitAsync(Loopback.Patience);
    }

    [Fact]
    public async Task AListenerThatCannotBindStopsTheStartNamingItAndClosesTheOthers()
    {
        using var taken = new Socket(SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((System.Net.IPEndPoint)taken.LocalEndPoint!).Port;
        using var host = TestHost.Build(s => s
            .AddListener("first", Sockeye.Handlers.EchoHandler.Instance)
            .AddListener("second", Sockeye.Handlers.EchoHandler.Instance, o => o.Port = port));

        var ex = await Assert.ThrowsAsync<IOException>(() => host.StartAsync().WaitAsync(Loopback.Patience));

        Assert.Equal($"Sockeye listener 'second': cannot listen on 127.0.0.1:{port}: the address is already in use", ex.Message);
        Assert.Equal(0, host.Services.GetRequiredService<SockeyeListeners>().Count);
    }

    internal sealed class SessionLog
    {
        private int _handlersDisposed;

        public System.Collections.Concurrent.ConcurrentBag<string> Disposed { get; } = [];

        public int HandlersDisposed => Volatile.Read(ref _handlersDisposed);

        public void HandlerDisposed() => Interlocked.Increment(ref _handlersDisposed);
    }

    internal sealed class Session(SessionLog log) : IDisposable
    {
        public string Id { get; } = Guid.NewGuid().ToString();

        public void Dispose() => log.Disposed.Add(Id);
    }

    internal sealed class SessionHandler(Session session, SessionLog log) : IConnectionHandler, IDisposable
    {
        public async Task HandleAsync(Connection connection)
        {
            await connection.Output.WriteAsync(Encoding.ASCII.GetBytes(session.Id));
            using var shutdown = connection.ShutdownRequested.Register(() => connection.Input.CancelPendingRead());
            while (true)
            {
                var result = await connection.Input.ReadAsync();
                connection.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
        }

        public void Dispose() => log.HandlerDisposed();
    }
}
