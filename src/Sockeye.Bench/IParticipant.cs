using HdrHistogram;

namespace Sockeye.Bench;

/// <summary>
/// One process taking part in a benchmark, as the coordinator drives it: this process's own
/// <see cref="Workload"/>, or a child process spoken to over its standard input and output.
/// </summary>
internal interface IParticipant : IAsyncDisposable
{
    /// <summary>Opens the connections; completes when the participant is ready to go.</summary>
    Task PrepareAsync(CancellationToken cancellationToken);

    /// <summary>Starts the load (the warm-up begins).</summary>
    void Go();

    /// <summary>Opens the measured window.</summary>
    void BeginMeasurement();

    /// <summary>Closes the measured window; the load stops.</summary>
    void EndMeasurement();

    /// <summary>Counters so far and the latencies since the previous call, for the live display.</summary>
    Progress TakeProgress();

    /// <summary>Waits for the load to end and returns what was measured.</summary>
    Task<BenchResult> FinishAsync(CancellationToken cancellationToken);

    /// <summary>After the result (idle with <see cref="BenchSettings.Linger"/>): keeps the held connections
    /// open until the server closes them or the linger ends, so a server's drain of held connections can be timed.</summary>
    Task LingerAsync();
}

/// <summary>A participant's counters at one moment, and the latencies of the last interval.</summary>
internal sealed record Progress(long Open, long Operations, long Errors, long Mismatches, HistogramBase Interval);
