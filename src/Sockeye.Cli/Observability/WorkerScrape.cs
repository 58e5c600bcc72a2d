namespace Sockeye.Cli.Observability;

/// <summary>One worker's answer to a scrape by <c>sockeye top</c>: its samples, or why there are none.</summary>
/// <param name="Url">The worker's metrics page.</param>
/// <param name="Samples">What it served; <see langword="null"/> when it did not answer (restarting, or gone).</param>
/// <param name="Problem">Why it did not answer, naming the URL; <see langword="null"/> when it answered.</param>
internal sealed record WorkerScrape(Uri Url, IReadOnlyList<PrometheusSample>? Samples, string? Problem);
