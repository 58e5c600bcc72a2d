using System.Buffers;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Transport;
using Sockeye.Transport.Epoll;

namespace Sockeye.Tests.Engines;

/// <summary>
/// The same transport behaviour over both I/O engines: Sockeye's epoll loop (the default on Linux)
/// and .NET's socket engine. Each case runs on real loopback sockets.
/// </summary>
public sealed class IoEngineTests
{
    // Socket buffers for tests that stream megabytes through "small" buffers. Not smaller: these tests
    // shrink the buffers after the connection exists, when the window the kernel advertised at the
    // handshake (from the 128 KiB default) is already larger than 16 KiB; segments it then has no room
    // for are pruned and dropped (TcpExtRcvPruned, TCPRcvQDrop) and resent after a retransmission
    // timeout of 200 ms or more. 3 MB each way took 5-20 s on either engine (kernel 6.18), past the
    // tests' 20 s bound; at 64 KiB it takes milliseconds and still far exceeds what the buffers hold.
    private const int SmallBuffer = 64 * 1024;

    public static TheoryData<IoEngine, bool> Engines => new()
    {
        { IoEngine.Epoll, false },
        { IoEngine.Epoll, true },
        { IoEngine.Sockets, false },
    };

    private static TcpServerOptions Options(IoEngine engine, bool inline) => new() { IoEngine = engine, InlineCompletions = inline };

    /// <summary>Runs <paramref name="count"/> clients at once, each with its own random source from one
    /// seed (named in a failure), and asserts that none returned a failure text.</summary>
    private static async Task EveryClientSucceedsAsync(int count, Func<int, Random, Task<string?>> client)
    {
        var seed = Random.Shared.Next();
        var failures = await Task.WhenAll(Enumerable.Range(0, count).Select(i => client(i, new Random(seed + i))));
        Assert.All(failures, f => Assert.True(f is null, $"seed {seed}: {f}"));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task EveryByteComesBackInOrderFromFiftyClientsWritingRandomPieces(IoEngine engine, bool inline)
    {
        await using var server = new TcpServer(Options(engine, inline));
        await server.StartAsync(EchoHandler.Instance);
        await EveryClientSucceedsAsync(50, async (i, random) =>
        {
            var payload = new byte[random.Next(1, 300_000)];
            random.NextBytes(payload);
            using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
            var writer = Task.Run(async () =>
            {
                for (var offset = 0; offset < payload.Length;)
                {
                    var n = Math.Min(payload.Length - offset, random.Next(1, 40_000));
                    await client.SendAllAsync(payload.AsMemory(offset, n));
                    offset += n;
                }
            });
            var echoed = await client.ReceiveExactlyAsync(payload.Length, TimeSpan.FromSeconds(60));
            await writer;
            var same = echoed.AsSpan().CommonPrefixLength(payload);
            return same == payload.Length ? null : $"client {i}: first wrong byte at {same} of {payload.Length}";
        });
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task AnIdleConnectionWaitsForInputHoldingNoBuffer(IoEngine engine, bool inline)
    {
        var connections = new TaskCompletionSource<SocketConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new TcpServer(Options(engine, inline));
        await server.StartAsync(connection =>
        {
            connections.TrySetResult((SocketConnection)connection);
            return EchoHandler.Instance.HandleAsync(connection);
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        await client.SendAllAsync(new byte[10_000]);
        await client.ReceiveExactlyAsync(10_000);
        var connection = await connections.Task.WaitAsync(Loopback.Patience);

        await Loopback.EventuallyAsync(() => connection.Reader.IsReceivePending, "the idle connection waits for input");
        var pool = server.MemoryPool;
        Assert.True(pool.BlocksAllocated > 0, "the echo used pool blocks");
        await Loopback.EventuallyAsync(() => pool.BlocksAllocated - pool.FreeBlocks == 0, "every block is back in the pool");
        Assert.Equal(engine == IoEngine.Epoll, connection.PollToken != 0);

        // And it still wakes up for the next bytes.
        await client.SendAllAsync("again"u8.ToArray());
        Assert.Equal("again"u8.ToArray(), await client.ReceiveExactlyAsync(5));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task AbortEndsAReadThatIsWaitingForInput(IoEngine engine, bool inline)
    {
        await using var reader = await WaitingReader.StartAsync(Options(engine, inline));

        reader.Connection.Abort("the test aborts it");

        var aborted = Assert.IsType<ConnectionClosedException>(await reader.Outcome.WaitAsync(Loopback.Patience));
        Assert.Contains("the test aborts it", aborted.Message, StringComparison.Ordinal);
        Assert.Equal(SocketError.ConnectionReset, await reader.Client.ReceiveEndAsync());
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task AbortEndsAFlushThatIsWaitingForRoom(IoEngine engine, bool inline)
    {
        var outcome = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var flushing = new TaskCompletionSource<SocketConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = Options(engine, inline);
        options.SendBufferSize = 16 * 1024;
        await using var server = new TcpServer(options);
        await server.StartAsync(async connection =>
        {
            flushing.TrySetResult((SocketConnection)connection);
            try
            {
                // The peer never reads: the kernel's buffers fill and a flush waits for room.
                var block = new byte[64 * 1024];
                for (var i = 0; i < 1000; i++)
                {
                    await connection.Output.WriteAsync(block);
                }

                outcome.TrySetResult(null);
            }
            catch (Exception ex)
            {
                outcome.TrySetResult(ex);
            }
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        client.ReceiveBufferSize = 16 * 1024;
        var connection = await flushing.Task.WaitAsync(Loopback.Patience);
        await Loopback.EventuallyAsync(() => connection.IsSendPending, "a flush waits for the kernel");

        connection.Abort("stuck writer");

        var error = await outcome.Task.WaitAsync(Loopback.Patience);
        Assert.IsType<ConnectionClosedException>(error);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task AFlushOfManyBlocksReachesASlowReaderIntact(IoEngine engine, bool inline)
    {
        // 300 blocks in one flush: more than one gathered send takes, and far more than the socket
        // buffers hold, so the send goes out in parts with waits for room between them.
        const int Size = 300 * 4096;
        var expected = new byte[Size];
        new Random(7).NextBytes(expected);
        var options = Options(engine, inline);
        options.SendBufferSize = 32 * 1024;
        options.MaxWriteBufferSize = 2 * Size;
        await using var server = new TcpServer(options);
        await server.StartAsync(async connection =>
        {
            for (var offset = 0; offset < Size; offset += 4096)
            {
                expected.AsSpan(offset, 4096).CopyTo(connection.Output.GetSpan(4096));
                connection.Output.Advance(4096);
            }

            await connection.Output.FlushAsync();
            await connection.Output.CompleteAsync();
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        client.ReceiveBufferSize = SmallBuffer;

        var received = new byte[Size];
        var total = 0;
        using var timeout = new CancellationTokenSource(Loopback.Patience);
        while (total < Size)
        {
            var n = await client.ReceiveAsync(received.AsMemory(total, Math.Min(7000, Size - total)), SocketFlags.None, timeout.Token);
            Assert.NotEqual(0, n);
            total += n;
            if (total % 10 == 0)
            {
                await Task.Delay(1, timeout.Token); // a slow reader, now and then
            }
        }

        Assert.Equal(expected, received);
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task APeerResetEndsAWaitingReadWithConnectionReset(IoEngine engine, bool inline)
    {
        await using var reader = await WaitingReader.StartAsync(Options(engine, inline));

        reader.Client.LingerState = new LingerOption(true, 0);
        reader.Client.Dispose(); // RST

        Assert.IsType<ConnectionLostException>(await reader.Outcome.WaitAsync(Loopback.Patience));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task ReadingAndWritingAtOnceFromTwoTasksMovesEveryByteBothWays(IoEngine engine, bool inline)
    {
        // A full-duplex handler: one task streams 3 MB to the peer while another reads 3 MB from it,
        // with small socket buffers so both directions wait for the kernel at the same time.
        const int Size = 3 << 20;
        var upload = new byte[Size];
        var download = new byte[Size];
        new Random(11).NextBytes(upload);
        new Random(12).NextBytes(download);
        var received = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = Options(engine, inline);
        options.SendBufferSize = SmallBuffer;
        options.ReceiveBufferSize = SmallBuffer;
        await using var server = new TcpServer(options);
        await server.StartAsync(async connection =>
        {
            var writing = Task.Run(async () =>
            {
                for (var offset = 0; offset < Size; offset += 10_000)
                {
                    await connection.Output.WriteAsync(download.AsMemory(offset, Math.Min(10_000, Size - offset)));
                }
            });
            received.TrySetResult(await connection.Input.ReadUpToAsync(Size));
            await writing;
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        client.ReceiveBufferSize = SmallBuffer;
        client.SendBufferSize = SmallBuffer;

        var sending = client.SendAllAsync(upload);
        var echoed = await client.ReceiveExactlyAsync(Size, TimeSpan.FromSeconds(60));
        await sending;

        var uploaded = await received.Task.WaitAsync(Loopback.Patience);
        Assert.True(download.AsSpan().SequenceEqual(echoed), "the server's stream arrived intact");
        Assert.True(upload.AsSpan().SequenceEqual(uploaded), "the client's stream arrived intact");
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task AfterThePeerHalfClosesTheServerStillSendsAWholeResponse(IoEngine engine, bool inline)
    {
        const int Size = 2 << 20;
        var response = new byte[Size];
        new Random(5).NextBytes(response);
        var options = Options(engine, inline);
        options.SendBufferSize = 16 * 1024;
        await using var server = new TcpServer(options);
        await server.StartAsync(async connection =>
        {
            // Read the request to its end (the peer's FIN), then answer at length.
            await connection.Input.DiscardToEndAsync();

            await connection.Output.WriteAsync(response);
        });
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
        client.ReceiveBufferSize = SmallBuffer;
        await client.SendAllAsync("request"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);

        var answer = await client.ReceiveExactlyAsync(Size, TimeSpan.FromSeconds(60));
        Assert.True(response.AsSpan().SequenceEqual(answer), "the response arrived intact");
        Assert.Equal(SocketError.Success, await client.ReceiveEndAsync());
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task RequestsAndRepliesInLockstepEachArriveAfterAShortReceive(IoEngine engine, bool inline)
    {
        // Request-reply, one at a time: after each short receive the epoll engine waits for the next
        // edge without asking the kernel again (the drained receive). Every request must still be
        // seen: sizes on both sides of a receive's block, pauses so some requests arrive while the
        // reader waits and some while it is busy.
        await using var server = new TcpServer(Options(engine, inline));
        await server.StartAsync(EchoHandler.Instance);
        await EveryClientSucceedsAsync(20, async (i, random) =>
        {
            using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
            for (var round = 0; round < 100; round++)
            {
                var request = new byte[random.Next(4) == 0 ? random.Next(2_000, 20_000) : random.Next(1, 200)];
                random.NextBytes(request);
                if (random.Next(5) == 0)
                {
                    await Task.Delay(random.Next(1, 4));
                }

                await client.SendAllAsync(request);
                var reply = await client.ReceiveExactlyAsync(request.Length, Loopback.Patience);
                if (!reply.AsSpan().SequenceEqual(request))
                {
                    return $"client {i}: round {round} came back wrong";
                }
            }

            return null;
        });
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task BytesFollowedAtOnceByTheFinAreReadAndTheEndIsSeen(IoEngine engine, bool inline)
    {
        // The FIN right behind a short request: a receive returns the bytes without the FIN, and the
        // FIN's edge may already have been taken with the bytes' one, so the reader must not treat the
        // short receive as "empty, wait for an edge" (no edge would come: the handler would hang).
        await using var server = new TcpServer(Options(engine, inline));
        await server.StartAsync(EchoHandler.Instance);
        await EveryClientSucceedsAsync(200, async (i, random) =>
        {
            var request = new byte[random.Next(1, 3_000)];
            random.NextBytes(request);
            using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
            await client.SendAllAsync(request);
            client.Shutdown(SocketShutdown.Send);
            var reply = await client.ReceiveExactlyAsync(request.Length, Loopback.Patience);
            var end = await client.ReceiveEndAsync(Loopback.Patience);
            return reply.AsSpan().SequenceEqual(request) && end == SocketError.Success
                ? null
                : $"client {i}: {request.Length} bytes, echo intact {reply.AsSpan().SequenceEqual(request)}, end {end}";
        });
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ANewConnectionsFirstBytesAreReadWhetherTheyCameBeforeOrAfterItsFirstRead(bool startHandlersInline)
    {
        // With inline completions a new epoll connection starts drained: its first read registers the
        // socket and waits for an edge without a receive first. Bytes already there at accept (sent with
        // the handshake's last ACK, or while the poll thread was busy with other accepts) must raise that
        // edge at registration; bytes sent later, the ordinary one. A burst of clients, some sending at
        // once (some with the FIN behind), some after a pause, covers both sides, in the CLI's
        // configuration (handlers started on the poll thread) and with handlers started on the pool.
        var options = Options(IoEngine.Epoll, inline: true);
        options.StartHandlersInline = startHandlersInline;
        await using var server = new TcpServer(options);
        await server.StartAsync(EchoHandler.Instance);
        await EveryClientSucceedsAsync(200, async (i, random) =>
        {
            var request = new byte[random.Next(1, 2_000)];
            random.NextBytes(request);
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await client.ConnectAsync(server.LocalEndPoint!);
            if (random.Next(2) == 0)
            {
                await Task.Delay(random.Next(1, 5));
            }

            await client.SendAllAsync(request);
            var fin = random.Next(2) == 0;
            if (fin)
            {
                client.Shutdown(SocketShutdown.Send);
            }

            var reply = await client.ReceiveExactlyAsync(request.Length, Loopback.Patience);
            if (!reply.AsSpan().SequenceEqual(request))
            {
                return $"client {i}: {request.Length} bytes came back wrong";
            }

            if (!fin)
            {
                client.Shutdown(SocketShutdown.Send);
            }

            var end = await client.ReceiveEndAsync(Loopback.Patience);
            return end == SocketError.Success ? null : $"client {i}: the server's end was {end} (FIN first {fin})";
        });
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task BytesFollowedAtOnceByAResetEndTheHandlersRead(IoEngine engine, bool inline)
    {
        // As above with a reset instead of a FIN: the handler's read must end (bytes then the reset,
        // or the reset alone), never wait for an edge the reset already spent.
        var ended = 0;
        await using var server = new TcpServer(Options(engine, inline));
        await server.StartAsync(async connection =>
        {
            try
            {
                await connection.Input.DiscardToEndAsync();
            }
            catch (ConnectionLostException)
            {
            }
            finally
            {
                Interlocked.Increment(ref ended);
            }
        });

        for (var i = 0; i < 50; i++)
        {
            using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
            await client.SendAllAsync(new byte[1 + (i * 37)]);
            client.LingerState = new LingerOption(true, 0);
            client.Dispose(); // RST right behind the bytes
        }

        await Loopback.EventuallyAsync(() => Volatile.Read(ref ended) == 50, $"all 50 handlers' reads ended ({Volatile.Read(ref ended)} did)");
    }

    [Fact]
    public async Task AClosedConnectionGivesItsPollerSlotBack()
    {
        var connections = new List<SocketConnection>();
        await using var server = new TcpServer(Options(IoEngine.Epoll, inline: false));
        await server.StartAsync(connection =>
        {
            lock (connections)
            {
                connections.Add((SocketConnection)connection);
            }

            return EchoHandler.Instance.HandleAsync(connection);
        });
        var group = PollerGroup.Get(inline: false);
        var clients = new List<Socket>();
        for (var i = 0; i < 20; i++)
        {
            clients.Add(await Loopback.ConnectAsync(server.LocalEndPoint!));
        }

        await Loopback.EventuallyAsync(() => { lock (connections) { return connections.Count == 20; } }, "20 connections are served");
        SocketConnection[] served;
        lock (connections)
        {
            served = [.. connections];
        }

        Assert.All(served, c => Assert.True(group.IsRegistered(c.PollToken)));
        foreach (var client in clients)
        {
            client.Dispose();
        }

        await Loopback.EventuallyAsync(() => served.All(c => !group.IsRegistered(c.PollToken)), "every slot is free again");
    }

    [Theory]
    [InlineData(IoEngine.Default, IoEngine.Epoll)]
    [InlineData(IoEngine.Epoll, IoEngine.Epoll)]
    [InlineData(IoEngine.Sockets, IoEngine.Sockets)]
    public async Task TheServerSaysWhichEngineItUses(IoEngine asked, IoEngine used)
    {
        Assert.True(OperatingSystem.IsLinux(), "these tests run on Linux, where Default means Epoll");
        await using var server = new TcpServer(new TcpServerOptions { IoEngine = asked });
        await server.StartAsync(EchoHandler.Instance);

        Assert.Equal(used, server.IoEngine);
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(true, 3)]
    [InlineData(false, 2)]
    public async Task AServerGetsThePollThreadsItAskedForAndServesOnThem(bool inline, int pollThreads)
    {
        // PollThreads = 1 with inline completions is Kv's configuration (every handler on one thread);
        // 3 is more than this machine's cores, to see the count is the one asked for, not the core count.
        var groups = new System.Collections.Concurrent.ConcurrentBag<PollerGroup?>();
        var threads = new System.Collections.Concurrent.ConcurrentDictionary<string, byte>();
        await using var server = new TcpServer(new TcpServerOptions { IoEngine = IoEngine.Epoll, InlineCompletions = inline, StartHandlersInline = inline, PollThreads = pollThreads });
        await server.StartAsync(async connection =>
        {
            groups.Add(((SocketConnection)connection).Context.Poller);
            var input = connection.Input;
            while (true)
            {
                var result = await input.ReadAsync();
                if (inline)
                {
                    threads.TryAdd(Thread.CurrentThread.Name ?? "(unnamed)", 0);
                }

                foreach (var segment in result.Buffer)
                {
                    await connection.Output.WriteAsync(segment);
                }

                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        });

        await EveryClientSucceedsAsync(30, async (i, random) =>
        {
            var request = new byte[random.Next(1, 500)];
            random.NextBytes(request);
            using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);
            await client.SendAllAsync(request);
            var reply = await client.ReceiveExactlyAsync(request.Length, Loopback.Patience);
            return reply.AsSpan().SequenceEqual(request) ? null : $"client {i}: the echo came back wrong";
        });

        var group = Assert.Single(groups.Distinct());
        Assert.NotNull(group);
        Assert.Equal(pollThreads, group!.Pollers.Count);
        Assert.Same(PollerGroup.Get(inline, pollThreads), group); // one group per kind and count, shared
        if (inline)
        {
            // Handlers resumed only on this group's poll threads (at most as many as asked for).
            Assert.All(threads.Keys, name => Assert.StartsWith("sockeye-epoll-inline-", name, StringComparison.Ordinal));
            Assert.InRange(threads.Count, 1, pollThreads);
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(65)]
    public void APollThreadCountOutsideZeroToSixtyFourIsRefusedByName(int count)
    {
        var error = Assert.Throws<ArgumentException>(() => new TcpServerOptions { PollThreads = count }.Validate());
        Assert.Equal(nameof(TcpServerOptions.PollThreads), error.ParamName);
        Assert.Contains($"must be between 0 (the engine's choice) and 64, got {count}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownEngineIsRefusedByName()
    {
        var error = Assert.Throws<ArgumentException>(() => new TcpServerOptions { IoEngine = (IoEngine)7 }.Validate());
        Assert.Equal(nameof(TcpServerOptions.IoEngine), error.ParamName);
        Assert.Contains("Default, Epoll or Sockets", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A server whose handler waits in one read, a client connected to it, and how that read
    /// ended (<see langword="null"/> if it returned bytes).</summary>
    private sealed class WaitingReader : IAsyncDisposable
    {
        private readonly TaskCompletionSource<Exception?> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<SocketConnection> _reading = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TcpServer _server = null!;

        public Socket Client { get; private set; } = null!;

        public SocketConnection Connection { get; private set; } = null!;

        public Task<Exception?> Outcome => _outcome.Task;

        /// <summary>Returns once the handler's read waits on the socket.</summary>
        public static async Task<WaitingReader> StartAsync(TcpServerOptions options)
        {
            var reader = new WaitingReader { _server = new TcpServer(options) };
            await reader._server.StartAsync(reader.HandleAsync);
            reader.Client = await Loopback.ConnectAsync(reader._server.LocalEndPoint!);
            reader.Connection = await reader._reading.Task.WaitAsync(Loopback.Patience);
            await Loopback.EventuallyAsync(() => reader.Connection.Reader.IsReceivePending, "the read waits for input");
            return reader;
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await _server.DisposeAsync();
        }

        private async Task HandleAsync(Connection connection)
        {
            try
            {
                var read = connection.Input.ReadAsync();
                _reading.TrySetResult((SocketConnection)connection);
                await read;
                _outcome.TrySetResult(null);
            }
            catch (Exception ex)
            {
                _outcome.TrySetResult(ex);
            }
        }
    }
}
