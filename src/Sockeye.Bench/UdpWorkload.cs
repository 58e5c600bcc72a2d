using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>
/// <c>bench udp</c>: <see cref="BenchSettings.Connections"/> connected UDP sockets, each keeping
/// <see cref="BenchSettings.Window"/> datagrams in flight to an echo server and timing every round trip
/// from the send timestamp carried in the first 8 bytes of the payload. An operation is one reply.
/// </summary>
/// <remarks>
/// A reply not back within <see cref="BenchSettings.LossTimeout"/> of the last one counts as lost: the
/// socket takes everything in flight as lost and refills its window. When the window closes, sending
/// stops and what is in flight gets one more loss timeout, so the run stops by itself. Loss is not an
/// error; an ICMP port unreachable (nothing listens) is, and is reported as the run's
/// <see cref="BenchResult.Failure"/>.
/// <para>Unlike the TCP loops, each receive carries a cancellation token: the loss timeout is what ends
/// a wait for a datagram that will never come. The token source is reset and reused, not reallocated.</para>
/// </remarks>
internal sealed class UdpWorkload(BenchSettings settings) : Workload(settings)
{
    private const int TimestampBytes = 8;

    private Socket[] _sockets = [];
    private long _sent;
    private string? _failure;

    public override Task PrepareAsync(CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Settings.Size, TimestampBytes);
        var target = Settings.EndPoint;
        _sockets = new Socket[Settings.Connections];
        for (var i = 0; i < _sockets.Length; i++)
        {
            _sockets[i] = new Socket(target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            _sockets[i].Connect(target); // Fixes the peer: replies from anyone else are dropped by the kernel.
            CountOpened();
        }

        return Task.CompletedTask;
    }

    public override Task RunAsync() =>
        Task.WhenAll(_sockets.Select(socket => Task.Run(() => ClientLoopAsync(socket))));

    private async Task ClientLoopAsync(Socket socket)
    {
        var send = new byte[Settings.Size];
        var receive = new byte[Settings.Size + 1];
        var inFlight = 0;
        var timeout = new CancellationTokenSource();
        try
        {
            while (true)
            {
                var sending = !Stopping;
                while (sending && inFlight < Settings.Window)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(send, Stopwatch.GetTimestamp());
                    await socket.SendAsync(send, SocketFlags.None).ConfigureAwait(false);
                    Interlocked.Increment(ref _sent);
                    inFlight++;
                }

                if (!sending && inFlight == 0)
                {
                    break;
                }

                if (!timeout.TryReset())
                {
                    timeout.Dispose();
                    timeout = new CancellationTokenSource();
                }

                timeout.CancelAfter(Settings.LossTimeout);
                int length;
                try
                {
                    length = await socket.ReceiveAsync(receive, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Everything in flight is taken as lost; refill the window (or stop, if the window closed).
                    inFlight = 0;
                    if (!sending)
                    {
                        break;
                    }

                    continue;
                }

                if (length >= TimestampBytes)
                {
                    RecordLatency(Nanoseconds(BinaryPrimitives.ReadInt64LittleEndian(receive), Stopwatch.GetTimestamp()), 1);
                }

                CountOperations(1);
                inFlight = Math.Max(0, inFlight - 1);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            Interlocked.CompareExchange(ref _failure, $"nothing answers at udp {Settings.Target} (ICMP port unreachable)", null);
            CountError();
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            // The sockets were closed under the loop (a stop that overran its grace), or a socket error.
            if (!Stopping)
            {
                CountError();
            }
        }
        finally
        {
            timeout.Dispose();
            CountClosed();
        }
    }

    public override BenchResult Result() => base.Result() with
    {
        DatagramsSent = Interlocked.Read(ref _sent),
        DatagramsReceived = Operations,
        Failure = Volatile.Read(ref _failure),
    };

    public override async ValueTask DisposeAsync()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
