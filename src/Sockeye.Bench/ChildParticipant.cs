using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using HdrHistogram;

namespace Sockeye.Bench;

/// <summary>
/// A participant in another process: the running executable (normally <c>sockeye</c>) run again with <c>--child</c> and its share of
/// the connections, spoken to with <see cref="ChildProtocol"/>. Each child has its own file
/// descriptor limit, which is how one benchmark holds more connections than one process may.
/// </summary>
internal sealed class ChildParticipant : IParticipant
{
    // How long a finishing child may go without progress before it is given up on. Not a bound on the
    // whole finish: an idle child proves each of its connections with a round trip, and at a million
    // connections over 53 children on 2 cores that took minutes (bench/c1m), so a child that is still
    // counting proved connections is waited for.
    private static readonly TimeSpan StallLimit = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly BenchSettings _settings;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<BenchResult> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _progressLock = new();
    private readonly Task _reader;
    private ChildProgress _last = new(0, 0, 0, 0, "");
    private readonly List<string> _pendingIntervals = [];

    public ChildParticipant(BenchSettings settings, int index, int count)
    {
        _settings = settings;
        var start = new ProcessStartInfo
        {
            FileName = Environment.ProcessPath!,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
        {
            // `dotnet Sockeye.Cli.dll bench ...`: the child runs the same program, which is the entry
            // assembly (the executable's), not this library.
            // Its path from the base directory, not Assembly.Location: that is empty in a single-file
            // app, and the single-file and Native AOT binaries never take this branch anyway.
            var entry = Assembly.GetEntryAssembly()?.GetName().Name
                ?? throw new InvalidOperationException("no entry assembly to start a child bench process from");
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, entry + ".dll"));
        }

        foreach (var argument in Arguments(settings, index, count))
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start a child bench process");
        // A thread of its own: pipe reads may block, and a thread pool on one pinned core has one thread.
        _reader = Task.Factory.StartNew(ReadEvents, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>The command line of child <paramref name="index"/> of <paramref name="count"/>.</summary>
    public static IEnumerable<string> Arguments(BenchSettings settings, int index, int count)
    {
        static string F(double value) => value.ToString(CultureInfo.InvariantCulture);
        var connections = Share(settings.Connections, index, count);
        yield return "bench";
        yield return settings.Mode.ToString().ToLowerInvariant();
        if (settings.UnixPath is { } unix)
        {
            yield return "--unix";
            yield return unix;
        }
        else
        {
            yield return "--host";
            yield return settings.Host;
            yield return "--port";
            yield return settings.Port.ToString(CultureInfo.InvariantCulture);
        }

        yield return "--connections";
        yield return connections.ToString(CultureInfo.InvariantCulture);
        yield return "--size";
        yield return settings.Size.ToString(CultureInfo.InvariantCulture);
        if (settings.Mode == BenchMode.Echo)
        {
            // Only echo has --depth: an idle or churn child given it would refuse to start.
            yield return "--depth";
            yield return settings.Depth.ToString(CultureInfo.InvariantCulture);
        }

        if (settings.Rate > 0)
        {
            yield return "--rate";
            yield return F(settings.Rate * connections / settings.Connections);
        }

        if (settings.SourceAddresses is { } sources)
        {
            yield return "--source-ips";
            yield return sources.SliceFor(index, count);
        }

        if (settings.Mode == BenchMode.Idle && settings.Linger > TimeSpan.Zero)
        {
            yield return "--linger";
            yield return $"{(long)Math.Ceiling(settings.Linger.TotalMilliseconds)}ms";
        }

        if (settings.Mode == BenchMode.Idle && settings.IoEngine != IoEngine.Default)
        {
            yield return "--io-engine";
            yield return settings.IoEngine.ToString().ToLowerInvariant();
        }

        if (settings.Reset)
        {
            yield return "--reset";
        }

        if (settings.Tls)
        {
            yield return "--tls";
        }

        if (settings.TlsServerName is { } serverName)
        {
            yield return "--tls-sni";
            yield return serverName;
        }

        yield return ChildProtocol.ChildOption;
    }

    /// <summary>Child <paramref name="index"/>'s share of <paramref name="total"/>: as even as possible.</summary>
    public static int Share(int total, int index, int count) => (total / count) + (index < total % count ? 1 : 0);

    public Task PrepareAsync(CancellationToken cancellationToken) => _ready.Task.WaitAsync(cancellationToken);

    public void Go() => Send(ChildProtocol.Go);

    public void BeginMeasurement() => Send(ChildProtocol.Measure);

    public void EndMeasurement() => Send(ChildProtocol.End);

    public Progress TakeProgress()
    {
        ChildProgress last;
        string[] intervals;
        lock (_progressLock)
        {
            last = _last;
            intervals = [.. _pendingIntervals];
            _pendingIntervals.Clear();
        }

        HistogramBase interval = LatencyHistogram.Merge(intervals);
        return new Progress(last.Open, last.Operations, last.Errors, last.Mismatches, interval);
    }

    public async Task<BenchResult> FinishAsync(CancellationToken cancellationToken)
    {
        if (!await Progressing.WaitAsync(_result.Task, Counted, StallLimit, cancellationToken).ConfigureAwait(false))
        {
            throw new TimeoutException(
                $"child bench process {_process.Id} made no progress for {StallLimit.TotalSeconds:F0} s while finishing ({Counted()} operations and errors counted)");
        }

        return await _result.Task.ConfigureAwait(false);
    }

    // What a finishing child has done so far: operations and errors both move while it proves its connections.
    private long Counted()
    {
        lock (_progressLock)
        {
            return _last.Operations + _last.Errors + _last.Mismatches;
        }
    }

    private void Send(string command)
    {
        try
        {
            _process.StandardInput.WriteLine(command);
            _process.StandardInput.Flush();
        }
        catch (IOException)
        {
            // The child has gone; ReadEventsAsync reports it.
        }
    }

    private void ReadEvents()
    {
        var output = _process.StandardOutput;
        while (output.ReadLine() is { } line)
        {
            if (line == ChildProtocol.Ready)
            {
                _ready.TrySetResult();
            }
            else if (line.StartsWith(ChildProtocol.Progress, StringComparison.Ordinal))
            {
                var progress = JsonSerializer.Deserialize(line[ChildProtocol.Progress.Length..], BenchJson.Default.ChildProgress)!;
                lock (_progressLock)
                {
                    _last = progress;
                    if (progress.Interval.Length > 0)
                    {
                        _pendingIntervals.Add(progress.Interval);
                    }
                }
            }
            else if (line.StartsWith(ChildProtocol.Result, StringComparison.Ordinal))
            {
                _result.TrySetResult(JsonSerializer.Deserialize(line[ChildProtocol.Result.Length..], BenchJson.Default.BenchResult)!);
            }
        }

        var failure = new IOException($"child bench process {_process.Id} ended without a result");
        _ready.TrySetException(failure);
        _result.TrySetException(failure);
    }

    /// <summary>The child lingers by itself once it has sent its result (see <see cref="ChildRunner"/>):
    /// wait for it to exit, a little longer than its linger.</summary>
    public async Task LingerAsync()
    {
        using var limit = new CancellationTokenSource(_settings.Linger + TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                _process.Kill();
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException)
        {
        }

        await _reader.ConfigureAwait(false);
        _process.Dispose();
    }
}
