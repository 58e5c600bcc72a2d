using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Server;
using Sockeye.Tests.Support;
using Sockeye.Transport;
using Sockeye.Transport.Epoll;

namespace Sockeye.Tests.Engines;

/// <summary>
/// The epoll engine's accept path (<see cref="EpollAcceptor"/>): accepts on the poll thread that will
/// serve the connection, in bounded batches, backing off out of epoll on EMFILE, and a stop that
/// waits for a batch in progress. Several tests hold the (process-wide) dispatching poll thread in
/// a handler on purpose, briefly, so that connections queue on the listener meanwhile.
/// </summary>
public sealed class PollerAcceptTests
{
    private const int EMFILE = 24;

    [Fact]
    public async Task ABurstOfConnectsQueuedWhileThePollThreadIsBusyIsAcceptedInBatchesOnThatThread()
    {
        const int Queued = 100;
        AssertOneDispatchingPoller();
        using var gate = new ManualResetEventSlim();
        var threads = new ConcurrentQueue<string?>();
        var first = 0;
        await using var server = new TcpServer(new TcpServerOptions { IoEngine = IoEngine.Epoll, InlineCompletions = false, StartHandlersInline = true });
        await server.StartAsync(connection =>
        {
            threads.Enqueue(Thread.CurrentThread.Name);
            if (Interlocked.Exchange(ref first, 1) == 0)
            {
                // Synchronously, before any await: the poll thread that accepted this connection is
                // held here while the others connect, so they queue on the listener.
                Assert.True(gate.Wait(Loopback.Patience), "the test released the gate");
            }

            return EchoHandler.Instance.HandleAsync(connection);
        });

        var clients = new List<Socket> { await Loopback.ConnectAsync(server.LocalEndPoint!) };
        try
        {
            await Loopback.EventuallyAsync(() => !threads.IsEmpty, "the first handler holds the poll thread");
            for (var i = 0; i < Queued; i++)
            {
                clients.Add(await Loopback.ConnectAsync(server.LocalEndPoint!)); // completes in the kernel's accept queue
            }

            Assert.Equal(1, server.AcceptedConnections);
            gate.Set();

            await Task.WhenAll(clients.Select(async (client, i) =>
            {
                var payload = BitConverter.GetBytes(i);
                await client.SendAllAsync(payload);
                Assert.Equal(payload, await client.ReceiveExactlyAsync(payload.Length));
            }));

            Assert.Equal(Queued + 1, server.AcceptedConnections);
            Assert.Equal(EpollAcceptor.MaxBatch, server.LargestAcceptBatch); // the held batch went on to the bound, not one per wake-up
            Assert.All(threads, name => Assert.Equal("sockeye-epoll-0", name));
        }
        finally
        {
            gate.Set();
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task EveryAcceptedConnectionIsRegisteredWithThePollerWhoseThreadAcceptedIt()
    {
        const int Clients = 40;
        var served = new ConcurrentQueue<(SocketConnection Connection, string? AcceptedOn)>();
        await using var server = new TcpServer(new TcpServerOptions { IoEngine = IoEngine.Epoll, InlineCompletions = true, StartHandlersInline = true });
        await server.StartAsync(async connection =>
        {
            var acceptedOn = Thread.CurrentThread.Name;
            var read = await connection.Input.ReadAsync(); // nothing there yet: EAGAIN, then the registration
            var bytes = read.Buffer.ToArray();
            connection.Input.AdvanceTo(read.Buffer.End);
            await connection.Output.WriteAsync(bytes);
            served.Enqueue(((SocketConnection)connection, acceptedOn));
            await EchoHandler.Instance.HandleAsync(connection);
        });

        var clients = await Task.WhenAll(Enumerable.Range(0, Clients).Select(_ => Loopback.ConnectAsync(server.LocalEndPoint!)));
        try
        {
            await Loopback.EventuallyAsync(() => server.AcceptedConnections == Clients, "every client was accepted");
            await Task.Delay(100); // let the first reads find nothing and register
            await Task.WhenAll(clients.Select(async c =>
            {
                await c.SendAllAsync("x"u8.ToArray());
                await c.ReceiveExactlyAsync(1);
            }));

            await Loopback.EventuallyAsync(() => served.Count == Clients, "every handler echoed once");
            var group = PollerGroup.Get(inline: true);
            Assert.All(served, s =>
            {
                Assert.True(group.IsRegistered(s.Connection.PollToken), "the connection is registered");
                Assert.Equal($"sockeye-epoll-inline-{group.PollerOf(s.Connection.PollToken).Index}", s.AcceptedOn);
            });
        }
        finally
        {
            foreach (var c in clients)
            {
                c.Dispose();
            }
        }
    }

    [Fact]
    public async Task AStopWhileConnectionsAreQueuedWaitsForTheBatchInProgressAndAcceptsNoMore()
    {
        const int Queued = 30;
        AssertOneDispatchingPoller();
        using var gate = new ManualResetEventSlim();
        var started = 0;
        Connection? first = null;
        var server = new TcpServer(new TcpServerOptions { IoEngine = IoEngine.Epoll, InlineCompletions = false, StartHandlersInline = true });
        await server.StartAsync(async connection =>
        {
            if (Interlocked.Increment(ref started) != 1)
            {
                await EchoHandler.Instance.HandleAsync(connection);
                return;
            }

            Volatile.Write(ref first, connection);
            Assert.True(gate.Wait(Loopback.Patience), "the test released the gate");
            var read = await connection.Input.ReadAsync(); // one byte, echoed even though a stop began
            var bytes = read.Buffer.ToArray();
            connection.Input.AdvanceTo(read.Buffer.End);
            await connection.Output.WriteAsync(bytes);
        });

        using var held = await Loopback.ConnectAsync(server.LocalEndPoint!);
        var queued = new List<Socket>();
        try
        {
            await Loopback.EventuallyAsync(() => Volatile.Read(ref started) == 1, "the first handler holds the poll thread");
            for (var i = 0; i < Queued; i++)
            {
                queued.Add(await Loopback.ConnectAsync(server.LocalEndPoint!));
            }

            await held.SendAllAsync("h"u8.ToArray());
            var stop = server.StopAsync(Loopback.Patience);
            await Task.Delay(300);

            // Step 2 of the stop (ask handlers to finish) comes only after the accepts have ended: the
            // batch the poll thread is still in could admit one more connection before it sees the stop.
            Assert.Equal(ServerState.Draining, server.State);
            Assert.False(Volatile.Read(ref first)!.ShutdownRequested.IsCancellationRequested, "the stop waited for the accept batch in progress");

            gate.Set();
            Assert.Equal("h"u8.ToArray(), await held.ReceiveExactlyAsync(1)); // the admitted one is still served in the drain
            var summary = await stop.WaitAsync(Loopback.Patience);

            Assert.Equal(1, Volatile.Read(ref started));
            Assert.Equal(1, server.AcceptedConnections);
            Assert.Equal(0, summary.Aborted);
            foreach (var client in queued)
            {
                var (received, _) = await client.ReceiveToEndAsync(); // reset or closed by the listener's close, never served
                Assert.Equal(0, received);
            }
        }
        finally
        {
            gate.Set();
            queued.ForEach(c => c.Dispose());
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task AcceptFailingWithEmfileTakesTheListenerOutOfEpollForTheBackOffAndResumesWhenItPasses()
    {
        var failing = 1;
        var calls = 0;
        await using var server = new TcpServer(new TcpServerOptions
        {
            IoEngine = IoEngine.Epoll,
            AcceptFault = () =>
            {
                Interlocked.Increment(ref calls);
                return Volatile.Read(ref failing) == 1 ? EMFILE : 0;
            },
        });
        await server.StartAsync(EchoHandler.Instance);
        using var client = await Loopback.ConnectAsync(server.LocalEndPoint!);

        await Loopback.EventuallyAsync(() => server.AcceptErrors >= 4, "the accept failed and was retried after each back-off step");
        var before = Volatile.Read(ref calls);
        await Task.Delay(500);
        var during = Volatile.Read(ref calls) - before;

        // Back-off steps of 5, 10, 20 ... ms: a few tries in half a second. A level-triggered listener
        // left in epoll would be retried by the poll thread without pause, thousands of times.
        Assert.InRange(during, 0, 10);
        Assert.True(server.AcceptBackoffs >= 4, $"{server.AcceptBackoffs} back-offs");
        Assert.Equal(0, server.AcceptedConnections);

        Volatile.Write(ref failing, 0);
        await client.SendAllAsync("e"u8.ToArray());
        Assert.Equal("e"u8.ToArray(), await client.ReceiveExactlyAsync(1, TimeSpan.FromSeconds(10)));
        Assert.Equal(1, server.AcceptedConnections);
    }

    private static void AssertOneDispatchingPoller() =>
        Assert.True(PollerGroup.Get(inline: false).Pollers.Count == 1,
            "these tests hold the one dispatching poll thread (machines under 32 cores have one)");
}
