using System.Diagnostics;
using HdrHistogram;

namespace Sockeye.Bench;

/// <summary>
/// Runs one benchmark from start to end:
/// <list type="number">
/// <item>sample the server's memory (when its pid is known), then let every participant open its connections;</item>
/// <item>go: the load starts, the warm-up runs (none for idle);</item>
/// <item>open the measured window: sample the server's CPU time;</item>
/// <item>hold the window for the duration (or until the request count is reached), showing progress
/// each second; for idle, sample the server's memory while the connections are held;</item>
/// <item>close the window: sample the server's CPU time again, stop the load, merge the results.</item>
/// </list>
/// </summary>
internal sealed class BenchCoordinator(BenchSettings settings, TextWriter progressOutput)
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    public async Task<BenchResult> RunAsync(CancellationToken cancellationToken, Func<BenchResult, Task>? onResult = null)
    {
        var participants = new List<IParticipant>();
        try
        {
            if (settings.Processes <= 1)
            {
                participants.Add(new LocalParticipant(LocalParticipant.CreateWorkload(settings)));
            }
            else
            {
                for (var i = 0; i < settings.Processes; i++)
                {
                    participants.Add(new ChildParticipant(settings, i, settings.Processes));
                }
            }

            var pid = settings.ServerPid;
            long? rssBefore = pid is { } p0 ? ProcessStats.ResidentBytes(p0) : null;
            var display = new ProgressDisplay(settings, progressOutput);
            display.Phase(settings.Mode switch
            {
                BenchMode.Udp => $"opening {settings.Connections:N0} sockets to udp {settings.Target}",
                BenchMode.Fanout => $"joining {settings.Subscribers:N0} subscribers and {settings.Publishers:N0} publishers to {settings.Rooms:N0} room(s) at {settings.Target}",
                _ => $"opening {settings.Connections:N0} connections to {settings.Target}",
            });
            await Task.WhenAll(participants.Select(p => p.PrepareAsync(cancellationToken))).ConfigureAwait(false);

            var started = Stopwatch.GetTimestamp();
            participants.ForEach(p => p.Go());
            var warmup = settings.Mode == BenchMode.Idle ? TimeSpan.Zero : settings.Warmup;
            await WatchAsync(participants, display, started, started, warmup, long.MaxValue, null, cancellationToken).ConfigureAwait(false);

            TimeSpan? cpuStart = pid is { } p1 ? ProcessStats.CpuTime(p1) : null;
            participants.ForEach(p => p.BeginMeasurement());
            var rssSamples = new List<long>();
            var measuredStart = Stopwatch.GetTimestamp();
            // The window is timed from its own start: a warm-up that overran on a busy machine must not shorten it.
            await WatchAsync(participants, display, started, measuredStart, settings.Duration,
                settings.Requests > 0 ? settings.Requests : long.MaxValue,
                settings.Mode == BenchMode.Idle && pid is { } p2 ? () => rssSamples.Add(ProcessStats.ResidentBytes(p2)) : null,
                cancellationToken).ConfigureAwait(false);
            TimeSpan? cpuEnd = pid is { } p3 ? ProcessStats.CpuTime(p3) : null;
            var measured = Stopwatch.GetElapsedTime(measuredStart);
            participants.ForEach(p => p.EndMeasurement());
            display.Phase(settings.Mode == BenchMode.Idle ? "proving every connection alive" : "stopping");

            var results = await Task.WhenAll(participants.Select(p => p.FinishAsync(cancellationToken))).ConfigureAwait(false);
            display.Done();
            var merged = BenchResult.Merge(results);
            var final = merged with
            {
                Seconds = settings.Mode == BenchMode.Idle ? measured.TotalSeconds : merged.Seconds,
                ServerCpuSeconds = cpuEnd - cpuStart is { } cpu ? cpu.TotalSeconds : null,
                ServerRssBefore = rssBefore,
                ServerRssHolding = rssSamples.Count > 0 ? Median(rssSamples) : null,
            };
            if (onResult is not null)
            {
                await onResult(final).ConfigureAwait(false);
            }

            if (settings.Mode == BenchMode.Idle && settings.Linger > TimeSpan.Zero)
            {
                await Task.WhenAll(participants.Select(p => p.LingerAsync())).ConfigureAwait(false);
            }

            return final;
        }
        finally
        {
            foreach (var participant in participants)
            {
                await participant.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Shows progress each second until <paramref name="length"/> has passed since <paramref name="from"/>
    /// or until <paramref name="operations"/> operations were done, calling <paramref name="sample"/> each tick.</summary>
    private static async Task WatchAsync(List<IParticipant> participants, ProgressDisplay display, long started, long from, TimeSpan length,
        long operations, Action? sample, CancellationToken cancellationToken)
    {
        while (true)
        {
            var left = length - Stopwatch.GetElapsedTime(from);
            if (left <= TimeSpan.Zero)
            {
                return;
            }

            await Task.Delay(left < Tick ? left : Tick, cancellationToken).ConfigureAwait(false);
            sample?.Invoke();
            var progress = participants.Select(p => p.TakeProgress()).ToList();
            HistogramBase interval = LatencyHistogram.Create();
            progress.ForEach(p => interval.Add(p.Interval));
            var done = progress.Sum(p => p.Operations);
            display.Show(Stopwatch.GetElapsedTime(started), progress.Sum(p => p.Open), done,
                progress.Sum(p => p.Errors), progress.Sum(p => p.Mismatches), interval);
            if (done >= operations)
            {
                return;
            }
        }
    }

    private static long Median(List<long> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }
}
