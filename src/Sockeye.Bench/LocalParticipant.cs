namespace Sockeye.Bench;

/// <summary>A participant that runs its <see cref="Workload"/> in this process.</summary>
internal sealed class LocalParticipant(Workload workload) : IParticipant
{
    // How long connection loops may go without finishing a round trip, once the window has closed,
    // before their sockets are closed. A bound on a stall, not on the finish: bench idle proves every
    // connection again at the end, which at 19,000 connections per process on a loaded machine takes
    // far longer than this, and is waited for as long as it moves.
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    private Task _run = Task.CompletedTask;

    public Task PrepareAsync(CancellationToken cancellationToken) => workload.PrepareAsync(cancellationToken);

    public void Go() => _run = workload.RunAsync();

    public void BeginMeasurement() => workload.BeginMeasurement();

    public void EndMeasurement() => workload.EndMeasurement();

    public Progress TakeProgress() =>
        new(workload.Open, workload.Operations, workload.Errors + workload.ConnectFailures, workload.Mismatches, workload.TakeInterval());

    public async Task<BenchResult> FinishAsync(CancellationToken cancellationToken)
    {
        // udp: what is in flight when the window closes gets one loss timeout to come back.
        if (!await Progressing.WaitAsync(_run, Counted, StopGrace + workload.Settings.LossTimeout, cancellationToken).ConfigureAwait(false))
        {
            // A server that stopped answering: closing the sockets ends the loops that wait on it.
            await workload.DisposeAsync().ConfigureAwait(false);
        }

        workload.Complete();
        return workload.Result();
    }

    public async Task LingerAsync()
    {
        var limit = workload.Settings.Linger;
        var outcome = await workload.LingerAsync(limit).ConfigureAwait(false);
        await Console.Error.WriteLineAsync($"sockeye bench: {outcome.Describe(limit)}").ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => workload.DisposeAsync();

    private long Counted() => workload.Operations + workload.Errors + workload.Mismatches;

    /// <summary>The workload for <paramref name="settings"/>.</summary>
    public static Workload CreateWorkload(BenchSettings settings) => settings.Mode switch
    {
        BenchMode.Echo => new EchoWorkload(settings),
        BenchMode.Idle => settings.IdleOnEpoll ? new EpollIdleWorkload(settings) : new IdleWorkload(settings),
        BenchMode.Udp => new UdpWorkload(settings),
        BenchMode.Fanout => new FanoutWorkload(settings),
        _ => new ChurnWorkload(settings),
    };
}
