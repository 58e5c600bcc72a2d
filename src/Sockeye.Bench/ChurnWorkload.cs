using System.Diagnostics;
using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>
/// <c>bench churn</c>: <see cref="BenchSettings.Connections"/> workers each loop over short
/// connections: connect, one round trip, close. An operation is one whole short connection, and its
/// latency runs from connect to the server's FIN.
/// </summary>
/// <remarks>
/// The client closes first, so by default its side keeps the TIME_WAIT (Linux reuses those ports for
/// new loopback connections: <c>net.ipv4.tcp_tw_reuse</c> = 2). <c>--reset</c> closes with RST instead.
/// </remarks>
internal sealed class ChurnWorkload(BenchSettings settings) : Workload(settings)
{
    private long _nextConnection;

    public override Task PrepareAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override Task RunAsync() =>
        Task.WhenAll(Enumerable.Range(0, Settings.Connections).Select(_ => Task.Run(WorkerLoopAsync)));

    private async Task WorkerLoopAsync()
    {
        var reply = new byte[Pattern.BatchBytes];
        var drain = new byte[64];
        while (!Stopping)
        {
            var index = Interlocked.Increment(ref _nextConnection);
            var started = Stopwatch.GetTimestamp();
            BenchConnection? connection = null;
            try
            {
                connection = await OpenAsync(index, StopToken).ConfigureAwait(false);
                CountOpened();
                if (!await connection.RoundTripAsync(Pattern.Batch(index, 0), reply, CancellationToken.None).ConfigureAwait(false))
                {
                    CountError();
                    continue;
                }

                if (!Pattern.Matches(reply, index, 0))
                {
                    CountMismatch();
                }

                if (Settings.Reset)
                {
                    connection.Socket.LingerState = new LingerOption(true, 0);
                }
                else
                {
                    await connection.CloseAndDrainAsync(drain).ConfigureAwait(false);
                }

                RecordLatency(Nanoseconds(started, Stopwatch.GetTimestamp()), 1);
                CountOperations(1);
            }
            catch (OperationCanceledException)
            {
                return;
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
                if (connection is not null)
                {
                    connection.Dispose();
                    CountClosed();
                }
            }
        }
    }
}
