using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using HdrHistogram;
using Sockeye.Dialing;

namespace Sockeye.Bench;

/// <summary>
/// One process's share of a benchmark: opens its connections, applies load when told to go, and
/// counts what happened. The coordinator (this process or a parent) decides when the measured
/// window starts and ends, so that the server's CPU is sampled over exactly the same window.
/// </summary>
/// <remarks>
/// Connection tasks write counters with <see cref="Interlocked"/> and latencies into a shared
/// <see cref="Recorder"/>; the coordinator reads them from one other thread. Nothing on the hot path
/// takes a lock, allocates, or registers a cancellation token: the client must stay cheaper than the
/// servers it drives.
/// </remarks>
internal abstract class Workload : IAsyncDisposable
{
    private readonly Recorder _recorder = LatencyHistogram.CreateRecorder();
    private readonly LongHistogram _measured = LatencyHistogram.Create();
    private readonly CancellationTokenSource _stop = new();
    private long _operations;
    private long _errors;
    private long _mismatches;
    private long _open;
    private long _connectFailures;
    private long _operationsAtStart;
    private long _held;
    private long _operationsAtEnd;
    private long _measureStart;
    private long _measureEnd;
    private TimeSpan _cpuAtStart;
    private TimeSpan _cpuInWindow;
    private volatile bool _measuring;

    // The library's dialers, one per source address (a Dialer's source address is one of its settings),
    // made when first used: --source-ips may name thousands of addresses.
    private readonly Dialer?[] _dialers;
    private readonly EndPoint _endPoint;

    protected Workload(BenchSettings settings)
    {
        Settings = settings;
        Pattern = new MessagePattern(settings.Size * settings.Depth);
        _endPoint = settings.EndPoint;
        _dialers = new Dialer?[_endPoint is UnixDomainSocketEndPoint ? 1 : settings.SourceAddresses?.Addresses.Count ?? 1];
    }

    public BenchSettings Settings { get; }

    protected MessagePattern Pattern { get; }

    /// <summary>Set once the measured window ended: connection loops finish their round trip and leave.</summary>
    protected bool Stopping => _stop.IsCancellationRequested;

    protected CancellationToken StopToken => _stop.Token;

    /// <summary>Whether the measured window is open (latencies are recorded only then).</summary>
    protected bool Measuring => _measuring;

    /// <summary>Connections open now.</summary>
    public long Open => Interlocked.Read(ref _open);

    /// <summary>Round trips (echo), short connections (churn) or replies (udp) completed so far, warm-up included.</summary>
    public long Operations => Interlocked.Read(ref _operations);

    public long Errors => Interlocked.Read(ref _errors);

    public long Mismatches => Interlocked.Read(ref _mismatches);

    public long ConnectFailures => Interlocked.Read(ref _connectFailures);

    /// <summary>Opens connections and proves them (echo and idle); returns when all are open or failed.</summary>
    public abstract Task PrepareAsync(CancellationToken cancellationToken);

    /// <summary>Starts the load; returns a task that ends when every connection loop has ended.</summary>
    public abstract Task RunAsync();

    /// <summary>Opens the measured window: counters and latencies from here on are the result.</summary>
    public virtual void BeginMeasurement()
    {
        _held = Open;
        _operationsAtStart = Operations;
        _recorder.GetIntervalHistogram(); // Drop warm-up latencies.
        _cpuAtStart = Process.GetCurrentProcess().TotalProcessorTime;
        _measureStart = Stopwatch.GetTimestamp();
        _measuring = true;
    }

    /// <summary>Latencies recorded since the previous call, for the live display and the total.</summary>
    public HistogramBase TakeInterval()
    {
        var interval = _recorder.GetIntervalHistogram();
        if (_measuring)
        {
            lock (_measured)
            {
                _measured.Add(interval);
            }
        }

        return interval;
    }

    /// <summary>Closes the measured window and tells the connection loops to stop.</summary>
    public virtual void EndMeasurement()
    {
        if (!_measuring)
        {
            return;
        }

        _measureEnd = Stopwatch.GetTimestamp();
        _cpuInWindow = Process.GetCurrentProcess().TotalProcessorTime - _cpuAtStart;
        TakeInterval();
        _measuring = false;
        _operationsAtEnd = Operations;
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
        }
    }

    /// <summary>Called once <see cref="RunAsync"/> has ended, before <see cref="Result"/>.</summary>
    public virtual void Complete()
    {
    }

    /// <summary>Keeps the connections still held open until the server closes them or
    /// <paramref name="limit"/> passes, closing each as its end arrives (idle only; others hold nothing).</summary>
    public virtual Task<LingerOutcome> LingerAsync(TimeSpan limit) => Task.FromResult(new LingerOutcome(0, 0, 0));

    /// <summary>What this process measured.</summary>
    public virtual BenchResult Result()
    {
        LongHistogram histogram;
        lock (_measured)
        {
            histogram = (LongHistogram)_measured.Copy();
        }

        return new BenchResult
        {
            Mode = Settings.Mode.ToString().ToLowerInvariant(),
            Target = Settings.Target,
            Connections = Settings.Connections,
            Size = Settings.Size,
            Depth = Settings.Depth,
            Rate = Settings.Rate,
            Processes = 1,
            ConnectionsHeld = _held,
            ConnectionsOpen = Open,
            ConnectFailures = ConnectFailures,
            Seconds = Stopwatch.GetElapsedTime(_measureStart, _measureEnd).TotalSeconds,
            Operations = _operationsAtEnd - _operationsAtStart,
            // Errors and mismatches over the whole run, warm-up included: a server that fails early must not pass.
            Errors = Errors + ConnectFailures,
            Mismatches = Mismatches,
            ClientCpuSeconds = _cpuInWindow.TotalSeconds,
            Histogram = LatencyHistogram.Encode(histogram),
        };
    }

    protected void CountOperations(int count) => Interlocked.Add(ref _operations, count);

    protected void CountError() => Interlocked.Increment(ref _errors);

    protected void CountMismatch() => Interlocked.Increment(ref _mismatches);

    protected void CountConnectFailure() => Interlocked.Increment(ref _connectFailures);

    protected void CountOpened() => Interlocked.Increment(ref _open);

    protected void CountClosed() => Interlocked.Decrement(ref _open);

    protected void RecordLatency(long nanoseconds, int count)
    {
        if (_measuring)
        {
            LatencyHistogram.Record(_recorder, nanoseconds, count);
        }
    }

    /// <summary>Records a latency whether or not the window is open, for a workload that decides itself
    /// which samples are measured (fanout: a message sent in the window may arrive after it closed).</summary>
    protected void RecordLatencyAnyTime(long nanoseconds, int count) => LatencyHistogram.Record(_recorder, nanoseconds, count);

    /// <summary>Adds the latencies recorded since the window closed to the result (see <see cref="RecordLatencyAnyTime"/>).</summary>
    protected void TakeLateLatencies()
    {
        var late = _recorder.GetIntervalHistogram();
        lock (_measured)
        {
            _measured.Add(late);
        }
    }

    /// <summary>Nanoseconds between two <see cref="Stopwatch"/> timestamps.</summary>
    protected static long Nanoseconds(long from, long to) => (long)((to - from) * (1_000_000_000.0 / Stopwatch.Frequency));

    /// <summary>Opens connection number <paramref name="index"/> from the source address the settings
    /// give it (see <see cref="BenchConnection.OpenAsync"/>).</summary>
    protected Task<BenchConnection> OpenAsync(long index, CancellationToken cancellationToken) =>
        BenchConnection.OpenAsync(DialerFor(index), _endPoint, Settings, cancellationToken);

    private Dialer DialerFor(long index)
    {
        var slot = (int)(index % _dialers.Length);
        if (_dialers[slot] is { } dialer)
        {
            return dialer;
        }

        var created = new Dialer
        {
            ConnectTimeout = Settings.ConnectTimeout,
            LocalAddress = _endPoint is UnixDomainSocketEndPoint ? null : Settings.SourceAddresses?.For(slot),
        };
        return Interlocked.CompareExchange(ref _dialers[slot], created, null) ?? created;
    }

    /// <summary>Opens <see cref="BenchSettings.Connections"/> connections (with their TLS handshakes
    /// under <c>--tls</c>), a bounded number at a time, and proves each with one round trip; failures
    /// are counted, not thrown.</summary>
    protected async Task<BenchConnection?[]> OpenAllAsync(CancellationToken cancellationToken)
    {
        var connections = new BenchConnection?[Settings.Connections];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Settings.ConnectConcurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Enumerable.Range(0, Settings.Connections), parallel, async (index, token) =>
        {
            BenchConnection? connection = null;
            try
            {
                connection = await OpenAsync(index, token).ConfigureAwait(false);
                var reply = new byte[Pattern.BatchBytes];
                if (!await connection.RoundTripAsync(Pattern.Batch(index, 0), reply, token).ConfigureAwait(false)
                    || !Pattern.Matches(reply, index, 0))
                {
                    throw new IOException("the first round trip failed");
                }

                connections[index] = connection;
                CountOpened();
            }
            catch (Exception ex) when (IsConnectionFailure(ex))
            {
                connection?.Dispose();
                CountConnectFailure();
            }
        }).ConfigureAwait(false);
        return connections;
    }

    /// <summary>Whether <paramref name="ex"/> is a connection's failure (socket error, reset, timeout,
    /// failed TLS handshake or record) rather than a bug in the bench.</summary>
    protected static bool IsConnectionFailure(Exception ex) =>
        ex is SocketException or IOException or TimeoutException or AuthenticationException or ObjectDisposedException;

    public virtual ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            _stop.Cancel();
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>How the held connections ended while lingering: closed by the server (FIN), reset (RST), or
/// still open when the linger ran out (then closed by the bench).</summary>
internal readonly record struct LingerOutcome(long Closed, long Reset, long StillOpen)
{
    /// <summary>One line for stderr.</summary>
    public string Describe(TimeSpan limit) =>
        $"after the result: {Closed:N0} connections closed by the server (FIN), {Reset:N0} reset, {StillOpen:N0} still open after {limit.TotalSeconds:0.#} s";
}
