using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Sockeye.Cli.Commands.Bench;

/// <summary>What <see cref="UdpLoadGenerator"/> sends, to where, and for how long.</summary>
/// <param name="Target">The UDP server (an echo server: every datagram must come back).</param>
/// <param name="Clients">Sockets sending at once, each from its own port.</param>
/// <param name="Window">Datagrams each client keeps in flight: 1 is ping-pong (pure latency); more
/// measures throughput.</param>
/// <param name="Size">Bytes per datagram, at least 8 (the send timestamp rides in the first 8).</param>
/// <param name="Duration">How long to send; then the replies still in flight get <paramref name="LossTimeout"/>.</param>
/// <param name="LossTimeout">A reply not back this long after the last one counts as lost; the client then
/// refills its window so one loss does not stall it.</param>
internal sealed record UdpLoadSettings(IPEndPoint Target, int Clients, int Window, int Size, TimeSpan Duration, TimeSpan LossTimeout);

/// <summary>What a run measured.</summary>
/// <param name="Sent">Datagrams sent.</param>
/// <param name="Received">Replies received.</param>
/// <param name="Elapsed">From the first send to the end of the sending phase.</param>
/// <param name="Latency">Round-trip times of the replies, in microseconds, as (percentile, value) pairs.</param>
/// <param name="MaxLatencyMicroseconds">The slowest round trip, exact.</param>
/// <param name="Error">Why the run failed (for example, nothing listens at the target), or <see langword="null"/>.</param>
internal sealed record UdpLoadResult(long Sent, long Received, TimeSpan Elapsed, IReadOnlyList<(double Percentile, long Microseconds)> Latency, long MaxLatencyMicroseconds, string? Error)
{
    /// <summary>Datagrams sent that never came back.</summary>
    public long Lost => Math.Max(0, Sent - Received);

    /// <summary>Lost as a fraction of sent.</summary>
    public double LossRatio => Sent == 0 ? 0 : (double)Lost / Sent;

    /// <summary>Replies per second over the sending phase.</summary>
    public double DatagramsPerSecond => Elapsed <= TimeSpan.Zero ? 0 : Received / Elapsed.TotalSeconds;
}

/// <summary>
/// The UDP load generator behind <c>sockeye bench udp</c>: several connected UDP sockets, each keeping a
/// window of datagrams in flight to an echo server, timing every round trip from a timestamp carried in the
/// payload. Bounded: it stops by itself after the duration plus one loss timeout.
/// </summary>
internal static class UdpLoadGenerator
{
    private static readonly double[] Percentiles = [50, 90, 99, 99.9];

    public static async Task<UdpLoadResult> RunAsync(UdpLoadSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Size, 8);
        var started = Stopwatch.GetTimestamp();
        var end = started + (long)(settings.Duration.TotalSeconds * Stopwatch.Frequency);
        var clients = Enumerable.Range(0, settings.Clients).Select(_ => Task.Run(() => RunClientAsync(settings, end, cancellationToken), cancellationToken)).ToArray();
        var results = await Task.WhenAll(clients).ConfigureAwait(false);

        var histogram = new Histogram();
        foreach (var result in results)
        {
            histogram.Add(result.Histogram);
        }

        return new UdpLoadResult(
            results.Sum(r => r.Sent),
            results.Sum(r => r.Received),
            Stopwatch.GetElapsedTime(started, Math.Min(end, Stopwatch.GetTimestamp())),
            [.. Percentiles.Select(p => (p, histogram.Percentile(p)))],
            histogram.Max,
            results.Select(r => r.Error).FirstOrDefault(e => e is not null));
    }

    private sealed record ClientResult(long Sent, long Received, Histogram Histogram, string? Error);

    private static async Task<ClientResult> RunClientAsync(UdpLoadSettings settings, long end, CancellationToken cancellationToken)
    {
        using var socket = new Socket(settings.Target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(settings.Target);
        var send = new byte[settings.Size];
        var receive = new byte[settings.Size + 1];
        var histogram = new Histogram();
        long sent = 0;
        long received = 0;
        var inFlight = 0;
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (true)
            {
                var sending = Stopwatch.GetTimestamp() < end;
                while (sending && inFlight < settings.Window)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(send, Stopwatch.GetTimestamp());
                    await socket.SendAsync(send, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                    sent++;
                    inFlight++;
                }

                if (!sending && inFlight == 0)
                {
                    break;
                }

                if (!timeout.TryReset())
                {
                    timeout.Dispose();
                    timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                }

                timeout.CancelAfter(settings.LossTimeout);
                int length;
                try
                {
                    length = await socket.ReceiveAsync(receive, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // Everything in flight is taken as lost; refill the window (or stop, if the time is up).
                    inFlight = 0;
                    if (!sending)
                    {
                        break;
                    }

                    continue;
                }

                if (length >= 8)
                {
                    var sentAt = BinaryPrimitives.ReadInt64LittleEndian(receive);
                    histogram.Record((long)(Stopwatch.GetElapsedTime(sentAt).Ticks / (double)TimeSpan.TicksPerMicrosecond));
                }

                received++;
                inFlight = Math.Max(0, inFlight - 1);
            }

            return new ClientResult(sent, received, histogram, null);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return new ClientResult(sent, received, histogram, $"nothing answers at udp {settings.Target} (ICMP port unreachable)");
        }
        finally
        {
            timeout.Dispose();
        }
    }

    /// <summary>
    /// Latencies in microseconds, log-linear: exact below 32, then 16 buckets per power of two (within about
    /// 6%). Fixed size, no allocation per sample.
    /// </summary>
    private sealed class Histogram
    {
        private const int Linear = 32;
        private const int SubBuckets = 16;
        private readonly long[] _counts = new long[Linear + (58 * SubBuckets)];

        public long Count { get; private set; }

        public long Max { get; private set; }

        public void Record(long microseconds)
        {
            var value = Math.Max(0, microseconds);
            _counts[Index(value)]++;
            Count++;
            Max = Math.Max(Max, value);
        }

        public void Add(Histogram other)
        {
            for (var i = 0; i < _counts.Length; i++)
            {
                _counts[i] += other._counts[i];
            }

            Count += other.Count;
            Max = Math.Max(Max, other.Max);
        }

        /// <summary>The smallest bucket value at or above <paramref name="percentile"/> of the samples.</summary>
        public long Percentile(double percentile)
        {
            if (Count == 0)
            {
                return 0;
            }

            var rank = (long)Math.Ceiling(percentile / 100 * Count);
            long seen = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                seen += _counts[i];
                if (seen >= rank)
                {
                    return Math.Min(LowerBound(i), Max);
                }
            }

            return Max;
        }

        private static int Index(long value)
        {
            if (value < Linear)
            {
                return (int)value;
            }

            var major = 63 - (int)long.LeadingZeroCount(value); // >= 5
            var minor = (int)(value >> (major - 4)) & (SubBuckets - 1);
            return Linear + ((major - 5) * SubBuckets) + minor;
        }

        private static long LowerBound(int index)
        {
            if (index < Linear)
            {
                return index;
            }

            var major = ((index - Linear) / SubBuckets) + 5;
            var minor = (index - Linear) % SubBuckets;
            return (long)(SubBuckets + minor) << (major - 4);
        }
    }
}
