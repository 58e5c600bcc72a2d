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
        }).ConfigureAwait(false);
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
