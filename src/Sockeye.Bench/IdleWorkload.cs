using System.Net.Sockets;

namespace Sockeye.Bench;

/// <summary>
/// <c>bench idle</c>: opens every connection and proves it with one round trip, holds them all
/// silent for <see cref="BenchSettings.Duration"/>, then proves each again; a connection that
/// fails the second round trip did not stay alive.
/// </summary>
internal sealed class IdleWorkload(BenchSettings settings) : Workload(settings)
{
    private readonly TaskCompletionSource _holdEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private BenchConnection?[] _connections = [];

    public override async Task PrepareAsync(CancellationToken cancellationToken) =>
        _connections = await OpenAllAsync(cancellationToken).ConfigureAwait(false);

    public override async Task RunAsync()
    {
        await _holdEnded.Task.ConfigureAwait(false);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Settings.ConnectConcurrency };
        await Parallel.ForEachAsync(Enumerable.Range(0, _connections.Length), parallel, async (index, token) =>
        {
            if (_connections[index] is not { } connection)
            {
                return;
            }

            var reply = new byte[Pattern.BatchBytes];
            try
            {
                using var timeout = new CancellationTokenSource(Settings.ConnectTimeout);
                if (await connection.RoundTripAsync(Pattern.Batch(index, 1), reply, timeout.Token).ConfigureAwait(false))
                {
                    if (Pattern.Matches(reply, index, 1))
                    {
                        CountOperations(1); // One more connection proved alive.
                        return;
                    }

                    CountMismatch();
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException || IsConnectionFailure(ex))
            {
            }

            CountError();
            CountClosed();
            _connections[index] = null; // Not held any more: nothing to linger on.
            connection.Dispose();
        }).ConfigureAwait(false);
    }

    /// <summary>Waits for the server to end every connection still held, or for <paramref name="limit"/>.</summary>
    public override async Task<LingerOutcome> LingerAsync(TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        long closed = 0, reset = 0, open = 0;
        await Task.WhenAll(_connections.OfType<BenchConnection>().Select(async connection =>
        {
            var buffer = new byte[64];
            try
            {
                while ((connection.Tls is null
                    ? await connection.Socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false)
                    : await connection.Tls.ReadAsync(buffer, timeout.Token).ConfigureAwait(false)) > 0)
                {
                }

                Interlocked.Increment(ref closed);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref open);
            }
            catch (Exception ex) when (IsConnectionFailure(ex))
            {
                Interlocked.Increment(ref reset);
            }
        })).ConfigureAwait(false);
        return new LingerOutcome(closed, reset, open);
    }

    /// <summary>Ends the hold; the final round trips run in <see cref="RunAsync"/>.</summary>
    public override void EndMeasurement() => _holdEnded.TrySetResult();

    /// <summary>Closes the window once the final round trips are done.</summary>
    public override void Complete() => base.EndMeasurement();

    public override async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            connection?.Dispose();
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
