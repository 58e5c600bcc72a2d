using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sockeye.Dialing;
using Sockeye.Tests.Support;
using Sockeye.Transport;

namespace Sockeye.Tests.Dialing;

/// <summary>
/// Timeouts and deadlines on dialed connections, on a fake clock against a real loopback server that
/// never answers or never reads: each fires at its time and not a tick before. The dialer's scan runs
/// inside <see cref="FakeTimeProvider.Advance(TimeSpan)"/>, so its counters can be checked right after
/// each step.
/// </summary>
public sealed class DialedConnectionDeadlineTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);
    private readonly FakeTimeProvider _clock = new();

    private Dialer NewDialer(TimeSpan readTimeout = default, TimeSpan writeTimeout = default) =>
        new() { TimeProvider = _clock, TimeoutResolution = Tick, ReadTimeout = readTimeout, WriteTimeout = writeTimeout };

    [Fact]
    public async Task ReadDeadlineFailsAReadTheServerNeverAnswersAtItsTimeAndNotBefore()
    {
        using var peer = new SilentPeer();
        var dialer = NewDialer();
        await using var connection = await dialer.DialAsync(peer.EndPoint).WaitAsync(Loopback.Patience);
        using var server = await peer.Accepted;

        connection.SetReadDeadline(_clock.GetUtcNow() + TimeSpan.FromSeconds(5));
        var read = connection.Input.ReadAsync().AsTask();
        await Loopback.EventuallyAsync(() => Internal(connection).IsReadPending, "the read is pending");

        _clock.Advance(TimeSpan.FromSeconds(5) - Tick);
        Assert.Equal(0, dialer.TimedOutConnections);
        Assert.False(read.IsCompleted);

        _clock.Advance(Tick);
        Assert.Equal(1, dialer.GetTimeoutCount(ConnectionTimeoutKind.ReadDeadline));
        var timeout = await Assert.ThrowsAsync<ConnectionTimeoutException>(() => read.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.ReadDeadline, timeout.Kind);
        Assert.Contains("read deadline", timeout.Message, StringComparison.Ordinal);
        Assert.Equal(SocketError.ConnectionReset, await server.ReceiveEndAsync());
    }

    [Fact]
    public async Task ReadTimeoutFromTheDialerFailsAReplyThatNeverComesAtItsTimeAndNotBefore()
    {
        using var peer = new SilentPeer();
        var dialer = NewDialer(readTimeout: TimeSpan.FromSeconds(5));
        await using var connection = await dialer.DialAsync(peer.EndPoint).WaitAsync(Loopback.Patience);
        using var server = await peer.Accepted;
        Assert.Equal(TimeSpan.FromSeconds(5), connection.ReadTimeout);

        await connection.Output.WriteAsync("ping\n"u8.ToArray()).AsTask().WaitAsync(Loopback.Patience);
        Assert.Equal("ping\n", Encoding.ASCII.GetString(await server.ReceiveExactlyAsync(5)));
        var read = connection.Input.ReadAsync().AsTask();
        await Loopback.EventuallyAsync(() => Internal(connection).IsReadPending, "the read is pending");

        _clock.Advance(TimeSpan.FromSeconds(5) - Tick);
        Assert.Equal(0, dialer.TimedOutConnections);
        Assert.False(read.IsCompleted);

        _clock.Advance(Tick);
        Assert.Equal(1, dialer.GetTimeoutCount(ConnectionTimeoutKind.Read));
        var timeout = await Assert.ThrowsAsync<ConnectionTimeoutException>(() => read.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.Read, timeout.Kind);
        Assert.Contains("ReadTimeout 5s", timeout.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IdleTimeoutSetOnADialedConnectionClosesItAtItsTimeAndNotBefore()
    {
        using var peer = new SilentPeer();
        var dialer = NewDialer();
        await using var connection = await dialer.DialAsync(peer.EndPoint).WaitAsync(Loopback.Patience);
        using var server = await peer.Accepted;

        connection.IdleTimeout = TimeSpan.FromSeconds(10);
        var read = connection.Input.ReadAsync().AsTask();

        _clock.Advance(TimeSpan.FromSeconds(10) - Tick);
        Assert.Equal(0, dialer.TimedOutConnections);

        _clock.Advance(Tick);
        Assert.Equal(1, dialer.GetTimeoutCount(ConnectionTimeoutKind.Idle));
        var timeout = await Assert.ThrowsAsync<ConnectionTimeoutException>(() => read.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.Idle, timeout.Kind);
    }

    [Fact]
    public async Task WriteTimeoutFromTheDialerReleasesAFlushToAServerThatNeverReads()
    {
        using var peer = new SilentPeer();
        var dialer = NewDialer(writeTimeout: TimeSpan.FromSeconds(5));
        await using var connection = await dialer.DialAsync(peer.EndPoint).WaitAsync(Loopback.Patience);
        using var server = await peer.Accepted;
        Internal(connection).Socket.SendBufferSize = 32 * 1024;

        var flood = new Flood(connection.Output);
        var writing = flood.RunAsync();
        await flood.WaitUntilStalledAsync(Internal(connection));

        _clock.Advance(TimeSpan.FromSeconds(5) - Tick);
        Assert.Equal(0, dialer.TimedOutConnections);
        Assert.False(writing.IsCompleted);

        _clock.Advance(Tick);
        Assert.Equal(1, dialer.GetTimeoutCount(ConnectionTimeoutKind.Write));
        var timeout = await Assert.ThrowsAsync<ConnectionTimeoutException>(() => writing.WaitAsync(Loopback.Patience));
        Assert.Equal(ConnectionTimeoutKind.Write, timeout.Kind);
        Assert.Contains("WriteTimeout 5s", timeout.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClearedReadDeadlineNeverFiresAndTheReadGetsTheLateReply()
    {
        using var peer = new SilentPeer();
        var dialer = NewDialer();
        await using var connection = await dialer.DialAsync(peer.EndPoint).WaitAsync(Loopback.Patience);
        using var server = await peer.Accepted;

        connection.SetReadDeadline(_clock.GetUtcNow() + TimeSpan.FromSeconds(1));
        var read = connection.Input.ReadAsync().AsTask();
        await Loopback.EventuallyAsync(() => Internal(connection).IsReadPending, "the read is pending");
        connection.ClearReadDeadline();
        for (var i = 0; i < 30; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(0, dialer.TimedOutConnections);
        Assert.False(read.IsCompleted);
        await server.SendAllAsync("late reply"u8.ToArray());
        var result = await read.WaitAsync(Loopback.Patience);
        Assert.Equal("late reply", Encoding.ASCII.GetString(result.Buffer.ToArray()));
        connection.Input.AdvanceTo(result.Buffer.End);
    }

    [Fact]
    public async Task DialerRunsATimerOnlyWhileAConnectionHasSomethingTimed()
    {
        using var peer = new SilentPeer();
        var dialer = NewDialer();
        var connection = await dialer.DialAsync(peer.EndPoint).WaitAsync(Loopback.Patience);
        using var server = await peer.Accepted;
        Assert.False(dialer.DeadlineScanner.IsTicking);
        Assert.False(Internal(connection).HasDeadlineState);

        connection.SetWriteDeadline(_clock.GetUtcNow() + TimeSpan.FromMinutes(1));
        Assert.True(dialer.DeadlineScanner.IsTicking);
        Assert.Equal(1, dialer.DeadlineScanner.Registered);

        await connection.DisposeAsync().AsTask().WaitAsync(Loopback.Patience);
        Assert.Equal(0, dialer.DeadlineScanner.Registered);
        Assert.False(dialer.DeadlineScanner.IsTicking);
        Assert.Equal(SocketError.Success, await server.ReceiveEndAsync());
    }

    [Fact]
    public async Task NegativeDialerTimeoutIsRefusedNamingTheOption()
    {
        var dialer = new Dialer { ReadTimeout = TimeSpan.FromSeconds(-1) };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => dialer.DialAsync("127.0.0.1:1"));

        Assert.Equal("ReadTimeout", error.ParamName);
        Assert.Contains("-00:00:01", error.Message, StringComparison.Ordinal);
    }

    private static SocketConnection Internal(Connection connection) => (SocketConnection)connection;

    /// <summary>Writes 16 KiB chunks and flushes after each until a flush fails; records how far it got.</summary>
    private sealed class Flood(PipeWriter output)
    {
        private static readonly byte[] Chunk = new byte[16 * 1024];
        private long _flushed;

        public async Task RunAsync()
        {
            // 64 MiB is far more than both socket buffers hold: the flushes must stall before the end.
            for (var i = 0; i < 4096; i++)
            {
                await output.WriteAsync(Chunk);
                Interlocked.Add(ref _flushed, Chunk.Length);
            }

            Assert.Fail("the server never stopped taking bytes");
        }

        // Until the flushes stop moving and one send is pending. Real time: the fake clock does not
        // move while the sockets fill.
        public async Task WaitUntilStalledAsync(SocketConnection connection)
        {
            long last = -1;
            var stable = 0;
            await Loopback.EventuallyAsync(
                () =>
                {
                    var now = Interlocked.Read(ref _flushed);
                    stable = now == last && connection.IsSendPending ? stable + 1 : 0;
                    last = now;
                    return stable >= 5;
                },
                "the flushes stop moving with a send pending",
                every: TimeSpan.FromMilliseconds(50));
        }
    }
}
