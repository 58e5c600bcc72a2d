using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Transport;
using Sockeye.Transport.Epoll;

namespace Sockeye.Tests.Engines;

/// <summary>
/// What keeps the engines safe from the code around them: handlers that lock their connection, an
/// event dispatch that throws on a poll thread, a duplicated descriptor, a slot reused while an event
/// for its old owner is in flight, and an abort racing the first registration. Real loopback sockets.
/// </summary>
public sealed partial class EngineSafetyTests
{
    public static TheoryData<IoEngine, bool> Engines => IoEngineTests.Engines;

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task AHandlerHoldingLockOnItsConnectionAndInputDoesNotStallItsIO(IoEngine engine, bool inline)
    {
        var connections = new TaskCompletionSource<SocketConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var locked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();
        await using var server = new TcpServer(new TcpServerOptions { IoEngine = engine, InlineCompletions = inline });
        await server.StartAsync(async connection =>
        {
            connections.TrySetResult((SocketConnection)connection);
            await locked.Task.WaitAsync(Loopback.Patience);
            await EchoHandler.Instance.HandleAsync(connection);
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        var connection = await connections.Task.WaitAsync(Loopback.Patience);

        // User code elsewhere holds both monitors for as long as the test runs (bounded by Patience).
        var holder = new Thread(() =>
        {
            lock (connection)
            {
                lock (connection.Input)
                {
                    locked.TrySetResult();
                    release.Wait(Loopback.Patience);
                }
            }
        }) { IsBackground = true };
        holder.Start();
        try
        {
            await locked.Task.WaitAsync(Loopback.Patience);

            // Reads, receives, readiness wake-ups and flushes all go on under the user's locks ...
            await client.SendAllAsync("ping"u8.ToArray());
            Assert.Equal("ping"u8.ToArray(), await client.ReceiveExactlyAsync(4, TimeSpan.FromSeconds(10)));
            await client.SendAllAsync("pong"u8.ToArray());
            Assert.Equal("pong"u8.ToArray(), await client.ReceiveExactlyAsync(4, TimeSpan.FromSeconds(10)));

            // ... and so does an abort from another thread (what a deadline does).
            await Task.Run(() => connection.Abort("aborted under the user's lock")).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(SocketError.ConnectionReset, await client.ReceiveEndAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            release.Set();
            holder.Join(Loopback.Patience);
        }
    }

    [Fact]
    public async Task AnExceptionEscapingAPollDispatchAbortsOnlyItsConnectionAndThePollThreadGoesOn()
    {
        var log = new CapturingLoggerProvider();
        using var logging = LoggerFactory.Create(b => b.AddProvider(log));
        var victims = new TaskCompletionSource<SocketConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var outcome = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions { IoEngine = IoEngine.Epoll, LoggerFactory = logging });
        await server.StartAsync(async connection =>
        {
            if (victims.TrySetResult((SocketConnection)connection))
            {
                try
                {
                    var result = await connection.Input.ReadAsync();
                    connection.Input.AdvanceTo(result.Buffer.End);
                    outcome.TrySetResult(null);
                }
                catch (Exception ex)
                {
                    outcome.TrySetResult(ex);
                }

                return;
            }

            await EchoHandler.Instance.HandleAsync(connection);
        });
        using var victimClient = await Loopback.ConnectAsync(server.LocalEndPoint!);
        var victim = await victims.Task.WaitAsync(Loopback.Patience);
        await Loopback.EventuallyAsync(() => victim.Reader.IsReceivePending, "the victim's read waits for an edge");
                Poller.BeforeDispatch = (connection, _) =>
        {
            if (connection == victim)
            {
                throw new InvalidOperationException("injected dispatch failure");
            }
        };
        try
        {
            await victimClient.SendAllAsync("boom"u8.ToArray());

            var error = Assert.IsType<ConnectionClosedException>(await outcome.Task.WaitAsync(Loopback.Patience));
            Assert.Contains("injected dispatch failure", error.Message, StringComparison.Ordinal);

            // Other connections on the same poll thread are still served, from their first edge on.
            using var other = await Loopback.ConnectAsync(server.LocalEndPoint!);
            for (var i = 0; i < 3; i++)
            {
                await Task.Delay(50); // let the echo's read wait for an edge first
                await other.SendAllAsync("still here"u8.ToArray());
                Assert.Equal("still here"u8.ToArray(), await other.ReceiveExactlyAsync(10, Loopback.Patience));
            }
        }
        finally
        {
            Poller.BeforeDispatch = null;
        }

        Assert.Single(log.Entries, e => e.EventId == 860 && e.Message.Contains($"Connection {victim.Id}:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AClosedConnectionLeavesEpollEvenWhenItsDescriptorWasDuplicated()
    {
        var connections = new TaskCompletionSource<SocketConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(new TcpServerOptions { IoEngine = IoEngine.Epoll });
        await server.StartAsync(connection =>
        {
            connections.TrySetResult((SocketConnection)connection);
            return EchoHandler.Instance.HandleAsync(connection);
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        var connection = await connections.Task.WaitAsync(Loopback.Patience);
        await Loopback.EventuallyAsync(() => connection.Reader.IsReceivePending, "the read waits for an edge");
        var token = connection.PollToken;
        var epfd = connection.Context.Poller!.PollerOf(token).Descriptor;
        Assert.True(IsInEpoll(epfd, token), "the waiting connection's socket is in epoll");

        // A second descriptor for the same socket, as a forked child or user code would hold one:
        // close() alone then leaves the registration in epoll.
        var duplicate = Dup((int)connection.Handle.DangerousGetHandle());
        Assert.True(duplicate >= 0, $"dup failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            connection.Abort("the test closes it");

            Assert.False(IsInEpoll(epfd, token), "the socket left epoll before it was closed");
        }
        finally
        {
            Assert.Equal(0, Close(duplicate));
        }
    }

    [Fact]
    public async Task AStaleGenerationEventAfterSlotReuseIsDropped()
    {
        // A poller of the test's own, so no other test takes the freed slot first.
        var poller = new Poller(200, "sockeye-epoll-test");
        var context = new ConnectionContext(new PinnedBlockMemoryPool(), new SocketSenderPool(), null, null, null, null, null, default);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client1 = await Loopback.ConnectAsync(listener.LocalEndPoint!);
        using var client2 = await Loopback.ConnectAsync(listener.LocalEndPoint!);
        using var socket1 = await listener.AcceptAsync().WaitAsync(Loopback.Patience);
        using var socket2 = await listener.AcceptAsync().WaitAsync(Loopback.Patience);

        var first = new SocketConnection(socket1, context);
        poller.Register(first, EpollNative.EPOLLIN | EpollNative.EPOLLET);
        var stale = first.PollToken;
        poller.Unregister(first);
        var second = new SocketConnection(socket2, context);
        poller.Register(second, EpollNative.EPOLLIN | EpollNative.EPOLLET);

        Assert.Equal((uint)stale, (uint)second.PollToken); // the same slot ...
        Assert.NotEqual(stale, second.PollToken);          // ... a newer generation
        Assert.False(poller.Dispatch(stale, EpollNative.EPOLLIN), "the old owner's event reaches nobody");
        Assert.True(poller.Dispatch(second.PollToken, EpollNative.EPOLLIN), "the new owner's event reaches it");
        poller.Unregister(second);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnAbortRacingTheFirstRegistrationEndsTheReadAndLeavesNothingInEpoll(bool inline)
    {
        const int Rounds = 200;
        var outcomes = new ConcurrentQueue<(SocketConnection Connection, Task<Exception?> Read)>();
        await using var server = new TcpServer(new TcpServerOptions { IoEngine = IoEngine.Epoll, InlineCompletions = inline });
        await server.StartAsync(async connection =>
        {
            var read = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
            outcomes.Enqueue(((SocketConnection)connection, read.Task));

            // The abort runs on another thread while this read reaches its first EAGAIN and registers.
            var abort = Task.Run(() => connection.Abort("raced"));
            try
            {
                await connection.Input.ReadAsync();
                read.TrySetResult(null);
            }
            catch (Exception ex)
            {
                read.TrySetResult(ex);
            }

            await abort;
        });

        // The clients stay open until the end: a client's FIN could otherwise end the read before the
        // abort does, and the read would return (completed) instead of failing with the abort.
        var clients = new List<Socket>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        for (var i = 0; i < Rounds && DateTime.UtcNow < deadline; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            clients.Add(client);
            try
            {
                await client.ConnectAsync(server.LocalEndPoint!).WaitAsync(Loopback.Patience);
            }
            catch (SocketException)
            {
                // The server's RST can beat the end of the client's connect: the abort is the point.
            }

            await Loopback.EventuallyAsync(() => outcomes.Count > i, "the handler started");
        }

        var group = PollerGroup.Get(inline);
        foreach (var (connection, read) in outcomes)
        {
            Assert.IsType<ConnectionClosedException>(await read.WaitAsync(Loopback.Patience));
            Assert.False(group.IsRegistered(connection.PollToken), "the aborted connection holds no poller slot");
            if (connection.PollToken != 0)
            {
                Assert.False(IsInEpoll(group.PollerOf(connection.PollToken).Descriptor, connection.PollToken), "nor a registration");
            }
        }

        Assert.True(outcomes.Count >= 20, $"only {outcomes.Count} rounds ran");
        clients.ForEach(c => c.Dispose());
    }

    /// <summary>Whether epoll descriptor <paramref name="epfd"/> holds a registration whose data is
    /// <paramref name="token"/>, from the kernel's own list (<c>/proc/self/fdinfo</c>).</summary>
    private static bool IsInEpoll(int epfd, ulong token)
    {
        var info = File.ReadAllText($"/proc/self/fdinfo/{epfd}");
        var data = token.ToString("x", CultureInfo.InvariantCulture);
        return DataField().Matches(info).Any(m => m.Groups[1].Value == data);
    }

    [Fact]
    public async Task AListenerEpollRefusesToTakeBackIsRetriedUntilItCanAndTheQueuedConnectionIsServed()
    {
        // Full (WaitWhenFull), the acceptor takes the listener out of epoll until a slot frees. While it is
        // out, the listener's descriptor number is made to point at /dev/null, which epoll refuses (EPERM):
        // putting the listener back fails. The acceptor must keep retrying, not stop accepting for good.
        var log = new CapturingLoggerProvider();
        using var logging = LoggerFactory.Create(b => b.AddProvider(log));
        using var owner = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        owner.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        owner.Listen();
        var fd = Dup((int)owner.SafeHandle.DangerousGetHandle());
        Assert.True(fd >= 0, "dup failed");
        await using var server = new TcpServer(new TcpServerOptions
        {
            ListenFd = fd, IoEngine = IoEngine.Epoll, MaxConnections = 1, WaitWhenFull = true, LoggerFactory = logging,
        });
        await server.StartAsync(EchoHandler.Instance);
        var held = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await held.SendAllAsync(new byte[] { 1 });
        await held.ReceiveExactlyAsync(1);
        using var queued = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await queued.SendAllAsync(new byte[] { 2 });
        await Loopback.EventuallyAsync(() => server.AcceptorsPaused > 0, "the full server takes its listener out of epoll");

        var saved = Dup(fd);
        using var devNull = File.OpenHandle("/dev/null");
        Assert.True(Dup2((int)devNull.DangerousGetHandle(), fd) == fd, "dup2 over the listener failed");
        try
        {
            held.Dispose(); // a slot frees: the acceptor tries to put /dev/null into epoll and is refused
            await Loopback.EventuallyAsync(() => log.Entries.Count(e => e.EventId == 201) >= 2, "two refusals logged, one retry apart");
        }
        finally
        {
            Assert.True(Dup2(saved, fd) == fd, "dup2 back failed");
            Assert.Equal(0, Close(saved));
        }

        // The listener is itself again: the next retry takes it back and the queued connection is served.
        Assert.Equal(new byte[] { 2 }, await queued.ReceiveExactlyAsync(1));
        var refusal = log.Entries.First(e => e.EventId == 201).Message;
        Assert.Contains("retrying in 00:00:01", refusal);
        Assert.Contains(log.Entries, e => e.EventId == 202); // "Accepting again after N accept errors"
    }

    [GeneratedRegex(@"data:\s*([0-9a-f]+)")]
    private static partial Regex DataField();

    [DllImport("libc", EntryPoint = "dup", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Dup(int fd);

    [DllImport("libc", EntryPoint = "dup2", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Dup2(int fd, int target);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int fd);

    private sealed record Entry(int EventId, string Message);

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue(new Entry(eventId.Id, formatter(state, exception)));
        }
    }
}
