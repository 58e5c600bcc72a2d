using System.Diagnostics;

namespace Sockeye.Bench;

/// <summary>
/// <c>bench echo</c>: every connection sends a batch of <see cref="BenchSettings.Depth"/> messages,
/// reads the same bytes back, checks them, and repeats.
/// </summary>
/// <remarks>
/// Closed loop by default: the next batch leaves when the previous one is back, so latency is the
/// server's response time under the load it can take. With <see cref="BenchSettings.Rate"/> the
/// loop is open: batch k of a connection is due at start + k × interval, and its latency is counted
/// from when it was due, not when it was sent, so a server stall is charged to every request it
/// delayed (coordinated-omission correction, as wrk2 does).
/// </remarks>
internal sealed class EchoWorkload(BenchSettings settings) : Workload(settings)
{
    private BenchConnection?[] _connections = [];

    public override async Task PrepareAsync(CancellationToken cancellationToken) =>
        _connections = await OpenAllAsync(cancellationToken).ConfigureAwait(false);

    public override Task RunAsync()
    {
        var start = Stopwatch.GetTimestamp();
        var loops = new List<Task>(_connections.Length);
        for (var i = 0; i < _connections.Length; i++)
        {
            if (_connections[i] is { } connection)
            {
                // A copy per iteration: a lambda captures the for loop's one variable, which has moved on by
                // the time the task runs, so every open-loop connection got the same due times and fired in
                // a burst (p50 grew ~17 µs per connection: 170 ms at 10,000).
                var index = i;
                loops.Add(Task.Run(() => ConnectionLoopAsync(connection, index, start)));
            }
        }

        return Task.WhenAll(loops);
    }

    private async Task ConnectionLoopAsync(BenchConnection connection, long index, long start)
    {
        var reply = new byte[Pattern.BatchBytes];
        var depth = Settings.Depth;

        // Open loop: this connection's share of the rate, staggered so connections do not fire together.
        var interval = Settings.Rate > 0 ? Stopwatch.Frequency * (double)Settings.Connections / Settings.Rate : 0;
        var due = start + (long)(interval * index / Math.Max(1, Settings.Connections));
        long sequence = 1; // Batch 0 was the proving round trip.
        try
        {
            while (!Stopping)
            {
                long sent;
                if (interval > 0)
                {
                    var wait = due - Stopwatch.GetTimestamp();
                    if (wait > 0)
                    {
                        await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), StopToken).ConfigureAwait(false);
                    }

                    sent = due;
                    due += (long)interval;
                }
                else
                {
                    sent = Stopwatch.GetTimestamp();
                }

                if (!await connection.RoundTripAsync(Pattern.Batch(index, sequence), reply, CancellationToken.None).ConfigureAwait(false))
                {
                    CountError(); // The server closed the connection.
                    break;
                }

                RecordLatency(Nanoseconds(sent, Stopwatch.GetTimestamp()), depth);
                if (!Pattern.Matches(reply, index, sequence))
                {
                    CountMismatch();
                }

                CountOperations(depth);
                sequence++;
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (IsConnectionFailure(ex))
        {
            if (!Stopping)
            {
                CountError();
            }
        }
        finally
        {
            CountClosed();
            connection.Dispose();
        }
    }

    public override async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            connection?.Dispose();
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
