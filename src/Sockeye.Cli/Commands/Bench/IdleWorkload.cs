using System.Net.Sockets;

namespace Sockeye.Cli.Commands.Bench;

/// <summary>
/// <c>bench idle</c>: opens every connection and proves it with one round trip, holds them all
/// silent for <see cref="BenchSettings.Duration"/>, then proves each again; a connection that
/// fails the second round trip did not stay alive.
/// </summary>
internal sealed class IdleWorkload(BenchSettings settings) : Workload(settings)
{
    private readonly TaskCompletionSource _holdEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Socket?[] _sockets = [];

    public override async Task PrepareAsync(CancellationToken cancellationToken) =>
        _sockets = await OpenAllAsync(cancellationToken).ConfigureAwait(false);

    public override async Task RunAsync()
    {
        await _holdEnded.Task.ConfigureAwait(false);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Settings.ConnectConcurrency };
        await Parallel.ForEachAsync(Enumerable.Range(0, _sockets.Length), parallel, async (index, token) =>
        {
            if (_sockets[index] is not { } socket)
            {
                return;
            }

            var reply = new byte[Pattern.BatchBytes];
            try
            {
                using var timeout = new CancellationTokenSource(Settings.ConnectTimeout);
                if (await Dialer.RoundTripAsync(socket, Pattern.Batch(index, 1), reply, timeout.Token).ConfigureAwait(false))
                {
                    if (Pattern.Matches(reply, index, 1))
                    {
                        CountOperations(1); // One more connection proved alive.
                        return;
                    }

                    CountMismatch();
                }
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
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
        foreach (var socket in _sockets)
        {
            socket?.Dispose();
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }
}
