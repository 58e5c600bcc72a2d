using System.Net;
using System.Net.Sockets;
using Sockeye.Handlers;
using Sockeye.Tests.Support;
using Sockeye.Udp;

namespace Sockeye.Tests.Udp;

public class UdpServerTests
{
    [Fact]
    public async Task EchoesTenThousandDatagramsOfRandomSizesUpToTheMaximum()
    {
        const int count = 10_000;
        await using var server = new UdpServer(new UdpServerOptions { MaxDatagramSize = 4096 });
        await server.StartAsync(DatagramEchoHandler.Instance);
        using var client = Connect(server);
        var random = new Random(8);
        var sent = new byte[4096];
        var received = new byte[4097];
        long bytes = 0;

        for (var i = 0; i < count; i++)
        {
            // Every size from 1 to the maximum can come up, both ends included.
            var size = i == 0 ? 4096 : random.Next(1, 4097);
            random.NextBytes(sent.AsSpan(0, size));
            await client.SendAsync(sent.AsMemory(0, size));
            var length = await client.ReceiveAsync(received.AsMemory()).AsTask().WaitAsync(Loopback.Patience);
            Assert.Equal(size, length);
            Assert.True(sent.AsSpan(0, size).SequenceEqual(received.AsSpan(0, length)), $"datagram {i} came back changed");
            bytes += size;
        }

        // A reply is counted just after the kernel takes it, so the client may see the last one first.
        await Loopback.EventuallyAsync(() => server.DatagramsSent == count, "every datagram is echoed");
        Assert.Equal(count, server.DatagramsReceived);
        Assert.Equal(bytes, server.BytesReceived);
        Assert.Equal(bytes, server.BytesSent);
        Assert.Equal(0, server.DatagramsDropped);
    }

    [Fact]
    public async Task OversizeDatagramIsDroppedAndCounted()
    {
        var handled = 0;
        await using var server = new UdpServer(new UdpServerOptions { MaxDatagramSize = 1000 });
        await server.StartAsync(datagram =>
        {
            Interlocked.Increment(ref handled);
            return datagram.ReplyAsync(datagram.Payload);
        });
        using var client = Connect(server);

        await client.SendAsync(new byte[1001]);
        await client.SendAsync(new byte[1000]);
        var reply = new byte[2000];
        var length = await client.ReceiveAsync(reply.AsMemory()).AsTask().WaitAsync(Loopback.Patience);

        // Datagrams on one socket from one sender arrive in order: the oversize one was seen first.
        Assert.Equal(1000, length);
        Assert.Equal(1, server.OversizeDrops);
        Assert.Equal(1, server.DatagramsDropped);
        Assert.Equal(1, Volatile.Read(ref handled));
        Assert.Equal(2, server.DatagramsReceived);
    }

    [Fact]
    public async Task FloodBeyondTheHandlerBoundIsShedWithBoundedMemory()
    {
        const int limit = 8;
        const int flood = 3000;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        await using var server = new UdpServer(new UdpServerOptions { MaxConcurrentHandlers = limit, ReceiveSockets = 2, ReceiveBufferSize = 4 << 20 });
        await server.StartAsync(async datagram =>
        {
            Interlocked.Increment(ref started);
            await gate.Task;
            await datagram.ReplyAsync(datagram.Payload);
        });
        using var client = Connect(server);

        var payload = new byte[64];
        for (var i = 0; i < flood; i++)
        {
            await client.SendAsync(payload);
        }

        // The first `limit` datagrams hold every slot; the rest that the kernel delivered are dropped.
        await Loopback.EventuallyAsync(() => server.OverloadDrops > 0 && Volatile.Read(ref started) == limit, "the handlers fill every slot and the rest are shed");
        Assert.Equal(limit, server.HandlersInFlight);
        Assert.Equal(server.DatagramsReceived, server.HandlersInFlight + server.OverloadDrops);
        Assert.InRange(server.BuffersAllocated, limit, limit + server.ReceiveSockets);

        // Once the handlers finish, the server serves again. Replies to the flood (64 bytes) may come
        // first: what was still in the kernel buffer is handled once slots free up.
        gate.SetResult();
        await Loopback.EventuallyAsync(() => server.HandlersInFlight == 0, "the held handlers finish"); // (a datagram sent earlier would be shed)

        // From a fresh socket: the flood's socket may be losing replies to a full receive buffer. UDP may
        // lose the probe too, so it is retried.
        using var probe = Connect(server);
        var reply = new byte[100];
        var length = 0;
        for (var attempt = 0; attempt < 10 && length == 0; attempt++)
        {
            await probe.SendAsync(new byte[] { 42 });
            try
            {
                length = await probe.ReceiveAsync(reply.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(1));
            }
            catch (TimeoutException)
            {
            }
        }

        Assert.Equal(1, length);
        Assert.Equal(42, reply[0]);
        Assert.InRange(server.BuffersAllocated, limit, limit + server.ReceiveSockets);
        Assert.Equal(server.DatagramsReceived, Volatile.Read(ref started) + server.OverloadDrops);
    }

    [Fact]
    public async Task SeveralReusePortSocketsShareThePortAndAllReceive()
    {
        await using var server = new UdpServer(new UdpServerOptions { ReceiveSockets = 4 });
        var senders = new System.Collections.Concurrent.ConcurrentDictionary<EndPoint, byte>();
        var receivers = new System.Collections.Concurrent.ConcurrentDictionary<Socket, byte>();
        await server.StartAsync(datagram =>
        {
            senders.TryAdd(datagram.RemoteEndPoint, 0);
            receivers.TryAdd(datagram.Socket, 0);
            return datagram.ReplyAsync(datagram.Payload);
        });

        Assert.Equal(OperatingSystem.IsLinux() ? 4 : 1, server.ReceiveSockets);

        // 32 senders: the kernel hashes each to one of the sockets; every one must be answered.
        var clients = Enumerable.Range(0, 32).Select(_ => Connect(server)).ToArray();
        try
        {
            foreach (var client in clients)
            {
                await client.SendAsync(new byte[] { 7 });
                var reply = new byte[8];
                Assert.Equal(1, await client.ReceiveAsync(reply.AsMemory()).AsTask().WaitAsync(Loopback.Patience));
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }

        Assert.Equal(32, senders.Count);

        // A reply is counted just after the kernel takes it, so the client may see it first.
        await Loopback.EventuallyAsync(() => server.DatagramsSent == 32, "all 32 replies are sent");

        // All 32 hashing to one of 4 sockets has a chance of 4 in 4^32: more than one socket received.
        Assert.True(receivers.Count > 1 || !OperatingSystem.IsLinux(), $"only {receivers.Count} of {server.ReceiveSockets} sockets received");
    }

    [Fact]
    public async Task HandlerExceptionIsCountedAndTheServerCarriesOn()
    {
        await using var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(async datagram =>
        {
            if (datagram.Payload.Span[0] == 0)
            {
                throw new InvalidOperationException("bad request");
            }

            if (datagram.Payload.Span[0] == 1)
            {
                await Task.Yield();
                throw new InvalidOperationException("bad request, later");
            }

            await datagram.ReplyAsync(datagram.Payload);
        });
        using var client = Connect(server);

        await client.SendAsync(new byte[] { 0 });
        await client.SendAsync(new byte[] { 1 });
        await client.SendAsync(new byte[] { 2 });
        var reply = new byte[8];
        await client.ReceiveAsync(reply.AsMemory()).AsTask().WaitAsync(Loopback.Patience);

        Assert.Equal(2, reply[0]);
        await Loopback.EventuallyAsync(() => server.HandlerErrors == 2, "both handler faults are counted");
    }

    [Fact]
    public async Task StopLetsRunningHandlersReplyWithinTheDrainTimeout()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(async datagram =>
        {
            running.TrySetResult();
            await gate.Task;
            await datagram.ReplyAsync(datagram.Payload);
        });
        using var client = Connect(server);
        await client.SendAsync(new byte[] { 9 });
        await running.Task.WaitAsync(Loopback.Patience);

        var stop = server.StopAsync(TimeSpan.FromSeconds(10));
        await Loopback.EventuallyAsync(() => server.State == ServerState.Draining, "the server is draining");
        Assert.False(stop.IsCompleted);
        gate.SetResult();
        var summary = await stop.WaitAsync(Loopback.Patience);

        var reply = new byte[8];
        Assert.Equal(1, await client.ReceiveAsync(reply.AsMemory()).AsTask().WaitAsync(Loopback.Patience));
        Assert.Equal(new ShutdownSummary(1, 1, 0, summary.Elapsed), summary);
        Assert.Equal(ServerState.Stopped, server.State);
    }

    [Fact]
    public async Task StopAbandonsHandlersThatOutliveTheDrainTimeout()
    {
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sawShutdown = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = new UdpServer(new UdpServerOptions());
        await server.StartAsync(async datagram =>
        {
            running.TrySetResult();
            using var registration = datagram.ShutdownRequested.Register(() => sawShutdown.TrySetResult());
            await Task.Delay(Timeout.Infinite, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        });
        using var client = Connect(server);
        await client.SendAsync(new byte[] { 1 });
        await running.Task.WaitAsync(Loopback.Patience);

        var summary = await server.StopAsync(TimeSpan.FromMilliseconds(100)).WaitAsync(Loopback.Patience);

        await sawShutdown.Task.WaitAsync(Loopback.Patience);
        Assert.Equal(1, summary.Open);
        Assert.Equal(1, summary.Aborted);
        Assert.False(summary.IsClean);
    }

    [Fact]
    public void RejectsOptionsOutOfRange()
    {
        Assert.Equal("MaxDatagramSize", Assert.Throws<ArgumentException>(() => new UdpServer(new UdpServerOptions { MaxDatagramSize = 65_508 })).ParamName);
        Assert.Equal("MaxConcurrentHandlers", Assert.Throws<ArgumentException>(() => new UdpServer(new UdpServerOptions { MaxConcurrentHandlers = 0 })).ParamName);
        Assert.Equal("ReceiveSockets", Assert.Throws<ArgumentException>(() => new UdpServer(new UdpServerOptions { ReceiveSockets = 0 })).ParamName);
    }

    private static Socket Connect(UdpServer server)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(server.LocalEndPoint!);
        return client;
    }
}
