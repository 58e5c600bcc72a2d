using Spectre.Console.Rendering;

namespace Sockeye.Cli.Observability;

/// <summary>
/// The loop of <c>sockeye top</c>, apart from the terminal: scrape, update the view, show it, wait
/// the interval; until cancelled or <c>frames</c> were shown. The first scrape must succeed (so a
/// wrong URL fails at once with a clear message); later failures are shown and retried.
/// </summary>
internal sealed class TopRunner(HttpClient http, Uri url, TimeSpan interval, int? serverPort, TimeProvider time)
{
    /// <summary>Scrapes once; throws <see cref="TopException"/> naming the URL and why when it cannot.</summary>
    public async Task<MetricsSnapshot> ScrapeAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.GetAsync(url, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new TopException($"cannot read metrics from {url}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            }

            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            return MetricsSnapshot.From(text, time.GetUtcNow(), serverPort);
        }
        catch (HttpRequestException ex)
        {
            throw new TopException($"cannot reach {url}: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TopException($"cannot reach {url}: no answer within {http.Timeout.TotalSeconds:F0}s", ex);
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
