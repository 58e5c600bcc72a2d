using HdrHistogram;

namespace Sockeye.Bench;

/// <summary>
/// The live line on stderr while a benchmark runs: time, connections open, operations per second and
/// p99 over the last second, errors. Rewritten in place on a terminal; one line per second otherwise.
/// </summary>
internal sealed class ProgressDisplay(BenchSettings settings, TextWriter output)
{
    private readonly bool _inPlace = !Console.IsErrorRedirected;
    private long _lastOperations;
    private TimeSpan _lastElapsed;

    public void Phase(string text)
    {
        if (!settings.Quiet)
        {
            Finish();
            output.WriteLine($"sockeye bench: {text}");
        }
    }

    public void Show(TimeSpan elapsed, long open, long operations, long errors, long mismatches, HistogramBase interval)
    {
        var seconds = (elapsed - _lastElapsed).TotalSeconds;
        var rate = seconds > 0 ? (operations - _lastOperations) / seconds : 0;
        _lastOperations = operations;
        _lastElapsed = elapsed;
        if (settings.Quiet)
        {
            return;
        }

        var what = settings.Mode switch
        {
            BenchMode.Churn => "conn/s",
            BenchMode.Udp => "dgram/s",
            BenchMode.Fanout => "deliv/s",
            _ => "ops/s",
        };
        var line = $"{elapsed.TotalSeconds,6:F1}s  open {open,7:N0}  {what} {rate,10:N0}  p99 {LatencyHistogram.Microseconds(interval, 99),9:N1} µs  errors {errors:N0}  mismatches {mismatches:N0}";
        if (_inPlace)
        {
            output.Write($"\r{line}   ");
        }
        else
        {
            output.WriteLine(line);
        }
    }

    public void Done() => Finish();

    private void Finish()
    {
        if (_inPlace && _lastElapsed > TimeSpan.Zero)
        {
            output.WriteLine();
            _lastElapsed = TimeSpan.Zero;
            _lastOperations = 0;
        }
    }
}
