using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Sockeye.Cli.Observability;

/// <summary>
/// What <c>sockeye top</c> draws: the latest figures, the rates since the scrape before, and a
/// sparkline of the last <see cref="HistoryLength"/> scrapes. Fed one snapshot per scrape.
/// </summary>
internal sealed class TopView
{
    public const int HistoryLength = 60;

    private static readonly char[] Bars = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

    private readonly string _url;
    private readonly List<MetricsSnapshot> _history = [];
    private string? _problem;

    /// <summary>A view titled with the metrics page it watches.</summary>
    public TopView(string url)
    {
        _url = url;
    }

    /// <summary>A view of the server whose workers serve metrics on <paramref name="urls"/>.</summary>
    public TopView(IReadOnlyList<Uri> urls)
        : this(urls.Count == 1 ? urls[0].ToString() : $"{urls[0]} and {urls.Count - 1} more")
    {
    }

    /// <summary>The most recent snapshot, if any.</summary>
    public MetricsSnapshot? Latest => _history.Count == 0 ? null : _history[^1];

    /// <summary>Adds a scrape's figures.</summary>
    public void Add(MetricsSnapshot snapshot)
    {
        _history.Add(snapshot);
        if (_history.Count > HistoryLength + 1)
        {
            _history.RemoveAt(0);
        }

        _problem = null;
    }

    /// <summary>Notes that the last scrape failed (shown until one succeeds).</summary>
    public void ScrapeFailed(string problem) => _problem = problem;

    /// <summary>Draws the latest figures, the rates and the sparklines, and what went wrong.</summary>
    public IRenderable Render()
    {
        var latest = Latest;
        var workers = latest is { Workers.Count: > 1 } ? $"[bold]{latest.WorkersAnswered} of {latest.Workers.Count} workers[/]  " : "";
        var header = new Markup(
            $"[bold]sockeye top[/]  {Markup.Escape(_url)}  {workers}state: [bold]{Markup.Escape(latest?.State ?? "?")}[/]  " +
            $"servers: {latest?.Servers ?? 0}  [dim]q or Ctrl-C to quit[/]");
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("")
            .AddColumn(new TableColumn("total").RightAligned())
            .AddColumn(new TableColumn("per second").RightAligned())
            .AddColumn($"last {HistoryLength} scrapes");

        AddRow(table, "active connections", s => s.Active, gauge: true);
        AddRow(table, "accepted", s => s.Accepted);
        AddRow(table, "rejected", s => s.Rejected);
        AddRow(table, "bytes in", s => s.BytesReceived, bytes: true);
        AddRow(table, "bytes out", s => s.BytesSent, bytes: true);
        AddRow(table, "timeouts", s => s.Timeouts);
        AddRow(table, "messages sent", s => s.MessagesSent);
        AddRow(table, "messages dropped", s => s.MessagesDropped);
        AddRow(table, "queued bytes", s => s.QueuedBytes, gauge: true, bytes: true);
        AddRow(table, "errors", s => s.Errors);

        var closed = latest is null || latest.ClosedByReason.Count == 0
            ? "none yet"
            : string.Join("  ", latest.ClosedByReason.Where(kv => kv.Value > 0).OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {Count(kv.Value)}"));
        var rows = new List<IRenderable> { header, table, new Markup($"closed by reason: {Markup.Escape(closed.Length == 0 ? "none yet" : closed)}") };
        foreach (var missing in latest?.Missing ?? [])
        {
            rows.Add(new Markup($"[yellow]worker missing from this scrape: {Markup.Escape(missing)}[/]"));
        }

        if (_problem is not null)
        {
            rows.Add(new Markup($"[red]last scrape failed: {Markup.Escape(_problem)}[/]"));
        }

        return new Rows(rows);
    }

    private void AddRow(Table table, string label, Func<MetricsSnapshot, long> value, bool gauge = false, bool bytes = false)
    {
        var latest = Latest;
        if (latest is null)
        {
            table.AddRow(label, "-", "-", "");
            return;
        }

        // A gauge's history is its values; a counter's is its rate between consecutive scrapes.
        var series = new List<double>();
        for (var i = 1; i < _history.Count; i++)
        {
            series.Add(gauge ? value(_history[i]) : Rate(_history[i - 1], _history[i], value));
        }

        if (gauge && _history.Count == 1)
        {
            series.Add(value(latest));
        }

        var total = Count(value(latest));
        var rate = gauge || _history.Count < 2 ? "" : bytes ? $"{Bytes(series[^1])}/s" : series[^1].ToString("N1", CultureInfo.InvariantCulture);
        table.AddRow(new Text(label), new Text(total), new Text(rate), new Text(Sparkline(series)));
    }

    private static double Rate(MetricsSnapshot before, MetricsSnapshot after, Func<MetricsSnapshot, long> value)
    {
        // Worker by worker when both scrapes have them: a worker missing from either scrape adds
        // nothing to this rate, rather than its whole count appearing or vanishing at once.
        if (before.Workers.Count > 0 && before.Workers.Count == after.Workers.Count)
        {
            return before.Workers.Zip(after.Workers)
                .Sum(pair => pair is ({ } b, { } a) ? WorkerRate(b, a, value) : 0);
        }

        return WorkerRate(before, after, value);
    }

    private static double WorkerRate(MetricsSnapshot before, MetricsSnapshot after, Func<MetricsSnapshot, long> value)
    {
        var seconds = (after.At - before.At).TotalSeconds;

        // A counter that went down means the server restarted: count from zero.
        var delta = value(after) - value(before);
        return seconds <= 0 ? 0 : Math.Max(0, delta < 0 ? value(after) : delta) / seconds;
    }

    private static string Sparkline(List<double> series)
    {
        if (series.Count == 0)
        {
            return "";
        }

        var max = series.Max();
        return new string(series.TakeLast(HistoryLength)
            .Select(v => max <= 0 ? Bars[0] : Bars[(int)Math.Round(v / max * (Bars.Length - 1))])
            .ToArray());
    }

    /// <summary>A count as the view shows it: digits grouped by thousands (invariant culture).</summary>
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Bytes with a binary unit: 512 B, 1.5 KiB, 20.0 MiB.</summary>
    public static string Bytes(double value)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{value:F0} B")
            : string.Create(CultureInfo.InvariantCulture, $"{value:F1} {units[unit]}");
    }
}
