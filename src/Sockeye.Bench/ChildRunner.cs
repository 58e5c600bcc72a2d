using System.Text.Json;

namespace Sockeye.Bench;

/// <summary>The child side of <see cref="ChildProtocol"/>: runs this process's workload as the parent directs.</summary>
internal static class ChildRunner
{
    public static async Task<int> RunAsync(BenchSettings settings)
    {
        var output = Console.Out;
        var writeLock = new SemaphoreSlim(1, 1);
        async Task WriteAsync(string line)
        {
            await writeLock.WaitAsync().ConfigureAwait(false);
            try
            {
                await output.WriteLineAsync(line).ConfigureAwait(false);
                await output.FlushAsync().ConfigureAwait(false);
            }
            finally
            {
                writeLock.Release();
            }
        }

        var workload = LocalParticipant.CreateWorkload(settings);
        await using var disposeWorkload = workload.ConfigureAwait(false);
        var participant = new LocalParticipant(workload);
        await participant.PrepareAsync(CancellationToken.None).ConfigureAwait(false);
        await WriteAsync(ChildProtocol.Ready).ConfigureAwait(false);

        using var stopProgress = new CancellationTokenSource();
        Task progress = Task.CompletedTask;
        // Console input blocks a thread even through ReadLineAsync: read it on a thread of its own, or a
        // child pinned to one core starves its own thread pool (which then has a single thread).
        while (await Task.Factory.StartNew(Console.In.ReadLine, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false) is { } command)
        {
            switch (command)
            {
                case ChildProtocol.Go:
                    participant.Go();
                    progress = ReportProgressAsync(participant, WriteAsync, stopProgress.Token);
                    break;
                case ChildProtocol.Measure:
                    participant.BeginMeasurement();
                    break;
                case ChildProtocol.End:
                    participant.EndMeasurement();
                    var result = await participant.FinishAsync(CancellationToken.None).ConfigureAwait(false);
                    await stopProgress.CancelAsync().ConfigureAwait(false);
                    await progress.ConfigureAwait(false);
                    await WriteAsync(ChildProtocol.Result + JsonSerializer.Serialize(result, BenchJson.Default.BenchResult)).ConfigureAwait(false);
                    if (settings.Linger > TimeSpan.Zero)
                    {
                        var outcome = await workload.LingerAsync(settings.Linger).ConfigureAwait(false);
                        await Console.Error.WriteLineAsync($"sockeye bench (child {Environment.ProcessId}): {outcome.Describe(settings.Linger)}").ConfigureAwait(false);
                    }

                    return 0;
            }
        }

        return 1; // The parent went away.
    }

    private static async Task ReportProgressAsync(LocalParticipant participant, Func<string, Task> write, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var p = participant.TakeProgress();
                var line = new ChildProgress(p.Open, p.Operations, p.Errors, p.Mismatches, p.Interval.TotalCount > 0 ? LatencyHistogram.Encode(p.Interval) : "");
                await write(ChildProtocol.Progress + JsonSerializer.Serialize(line, BenchJson.Default.ChildProgress)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
