using System.Globalization;

namespace Sockeye.Cli.Observability;

/// <summary>One sample of a Prometheus text exposition: a series name, its labels and its value.</summary>
/// <param name="Name">The series name, such as <c>sockeye_connections_accepted_total</c>.</param>
/// <param name="Labels">The labels, by name.</param>
/// <param name="Value">The value.</param>
internal sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    /// <summary>Reads the samples of a text exposition (format 0.0.4 or OpenMetrics); comments,
    /// blank lines and lines it cannot read are skipped.</summary>
    public static List<PrometheusSample> Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            if (TryParseLine(line, out var sample))
            {
                samples.Add(sample);
            }
        }

        return samples;
    }

    /// <summary>
    /// Adds up several scrapes (one per worker process of a supervised server): samples of the same
    /// series, that is the same name and the same labels, become one sample holding the sum of their
    /// values; a series only some scrapes hold is kept as it is. Counters and gauges of a server's
    /// workers add up to the whole server's; so do histogram buckets, sums and counts.
    /// </summary>
    public static List<PrometheusSample> Sum(IEnumerable<IEnumerable<PrometheusSample>> scrapes)
    {
        var sums = new Dictionary<string, PrometheusSample>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var sample in scrapes.SelectMany(s => s))
        {
            var key = SeriesKey(sample);
            if (sums.TryGetValue(key, out var sum))
            {
                sums[key] = sum with { Value = sum.Value + sample.Value };
            }
            else
            {
                sums[key] = sample;
                order.Add(key);
            }
        }

        return [.. order.Select(key => sums[key])];
    }

    /// <summary>The series a sample belongs to: its name and its labels in name order (so that label
    /// order in the text does not split a series), joined by NUL, which no name or value holds.</summary>
    private static string SeriesKey(PrometheusSample sample) =>
        string.Join('\0', sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).SelectMany(l => new[] { l.Key, l.Value }).Prepend(sample.Name));

    private static bool TryParseLine(string line, out PrometheusSample sample)
    {
        sample = null!;
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ')
        {
            i++;
        }

        var name = line[..i];
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (i < line.Length && line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                if (eq < 0 || eq + 1 >= line.Length || line[eq + 1] != '"')
                {
                    return false;
                }

                var key = line[i..eq].Trim();
                var value = new System.Text.StringBuilder();
                var j = eq + 2;
                for (; j < line.Length && line[j] != '"'; j++)
                {
                    if (line[j] == '\\' && j + 1 < line.Length)
                    {
                        j++;
                        value.Append(line[j] == 'n' ? '\n' : line[j]);
                    }
                    else
                    {
                        value.Append(line[j]);
                    }
                }

                labels[key] = value.ToString();
                i = j + 1;
                if (i < line.Length && line[i] == ',')
                {
                    i++;
                }
            }

            i++; // '}'
        }

        var rest = line[Math.Min(i, line.Length)..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (name.Length == 0 || rest.Length == 0)
        {
            return false;
        }

        var number = rest[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : (double?)null,
        };
        if (number is not { } parsed)
        {
            return false;
        }

        sample = new PrometheusSample(name, labels, parsed);
        return true;
    }
}
