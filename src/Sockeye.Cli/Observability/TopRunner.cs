using Spectre.Console.Rendering;

namespace Sockeye.Cli.Observability;

/// <summary>
/// The loop of <c>sockeye top</c>, apart from the terminal: scrape, update the view, show it, wait
/// the interval; until cancelled or <c>frames</c> were shown. The first scrape must succeed (so a
/// wrong URL fails at once with a clear message); later failures are shown and retried.
/// </summary>
/// <remarks>With several URLs (the workers of <c>sockeye serve --processes N</c>), each scrape asks
/// every URL at once, each bounded by the <see cref="HttpClient"/>'s timeout, and sums what the
/// workers that answered served; a scrape fails only when none answered.</remarks>
internal sealed class TopRunner(HttpClient http, IReadOnlyList<Uri> urls, TimeSpan interval, int? serverPort, TimeProvider time)
{
    /// <summary>Watches the one server whose metrics page is <paramref name="url"/>.</summary>
    public TopRunner(HttpClient http, Uri url, TimeSpan interval, int? serverPort, TimeProvider time)
        : this(http, [url], interval, serverPort, time)
    {
    }

    /// <summary>Scrapes every URL once; throws <see cref="TopException"/> naming each URL and why when
    /// none answered.</summary>
    public async Task<MetricsSnapshot> ScrapeAsync(CancellationToken cancellationToken)
    {
        var scrapes = await Task.WhenAll(urls.Select(url => ScrapeOneAsync(url, cancellationToken)));
        if (scrapes.All(s => s.Samples is null))
        {
            throw new TopException(string.Join("; ", scrapes.Select(s => s.Problem)));
        }

        return MetricsSnapshot.Sum(scrapes, time.GetUtcNow(), serverPort);
    }

    /// <summary>Scrapes one URL; a failure is an answer too (the worker may be restarting).</summary>
    private async Task<WorkerScrape> ScrapeOneAsync(Uri url, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.GetAsync(url, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                return new WorkerScrape(url, null, $"cannot read metrics from {url}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            }

            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            return new WorkerScrape(url, PrometheusSample.Parse(text), null);
        }
        catch (HttpRequestException ex)
        {
            return new WorkerScrape(url, null, $"cannot reach {url}: {ex.Message}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WorkerScrape(url, null, $"cannot reach {url}: no answer within {http.Timeout.TotalSeconds:F0}s");
        }
    }

    /// <summary>Shows a frame per scrape through <paramref name="show"/>, starting with what
    /// <paramref name="view"/> holds (scraping first when it holds nothing).</summary>
    /// <exception cref="TopException">The first scrape failed.</exception>
    public async Task RunAsync(TopView view, Action<IRenderable> show, int? frames, CancellationToken cancellationToken)
    {
        if (view.Latest is null)
        {
            view.Add(await ScrapeAsync(cancellationToken));
        }

        show(view.Render());
        for (var shown = 1; frames is null || shown < frames; shown++)
        {
            try
            {
                await Task.Delay(interval, time, cancellationToken);
                view.Add(await ScrapeAsync(cancellationToken));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (TopException ex)
            {
                view.ScrapeFailed(ex.Message);
            }

            show(view.Render());
        }
    }
}

/// <summary>A scrape failed; the message names the URL and the reason.</summary>
internal sealed class TopException : Exception
{
    public TopException(string message)
        : base(message)
    {
    }

    public TopException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
