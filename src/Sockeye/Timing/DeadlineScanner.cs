namespace Sockeye.Timing;

/// <summary>
/// The one timing mechanism for every connection of a server: a coarse periodic scan, like Kestrel's
/// heartbeat. One <see cref="ITimer"/> from the server's <see cref="TimeProvider"/> ticks every
/// <see cref="Resolution"/>; each tick walks a dense table of <see cref="TimerSlot"/>s and calls the
/// owner of any slot whose expiry has come.
/// </summary>
/// <remarks>
/// <para>Why a scan rather than a timer per connection or a timing wheel: the hot path only writes a
/// timestamp into the connection's slot (no registration, no allocation, no
/// <see cref="CancellationTokenSource"/> per read), and almost every deadline is pushed back long
/// before it expires, which a wheel would have to re-file each time. The scan's cost is a sequential
/// pass over 24 bytes per connection; it is measured in <c>bench/Sockeye.Benchmarks</c>
/// (<c>DeadlineScanBenchmarks</c>) and reported in <c>docs/DEADLINES.md</c>.</para>
/// <para>A timeout fires at the first tick at or after its expiry: never early, and late by at most
/// one <see cref="Resolution"/> plus the timer's own jitter.</para>
/// <para>Register and unregister take a lock (once per connection); the scan and the slot writes take
/// none. A tick that finds the previous scan still running is skipped.</para>
/// <para>The timer does not tick blindly every <see cref="Resolution"/>: each scan also finds the earliest
/// hint still ahead, and the next tick is set for then (but no sooner than one <see cref="Resolution"/>
/// after this scan). With nothing to time the timer sleeps; a process holding idle connections without
/// deadlines wakes for none (a tick every 250 ms cost an idle process about ten thread wake-ups, and 53
/// idle worker processes 7% of a core). Hints only pushed later (a receive restarting the idle clock)
/// need nothing more: the scan due at the old time finds them later and sets the next tick again. A hint
/// armed earlier than the next tick (a read or send starting, a deadline or timeout set) is reported with
/// <see cref="Armed"/>, which brings the tick forward.</para>
/// <para>A server's scanner has its timer from <see cref="Start"/> until it is disposed. A dialer's on
/// demand (<see cref="TicksOnDemand"/>): from the first registered slot until the last is given back,
/// so a dialer whose connections time nothing has no timer, and one that has no owner to dispose it
/// leaves no timer behind.</para>
/// </remarks>
internal sealed class DeadlineScanner : IDisposable
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();

    // Free slot numbers, reused last-in first-out so the live slots stay packed at the front.
    private readonly Stack<int> _free = new();

    // Replaced (never mutated) when a chunk is added, so the scan can read it without the lock.
    private TimerChunk[] _chunks = [];
    private int _nextSlot;
    private int _registered;
    private ITimer? _timer;
    private int _scanning;
    private bool _disposed;

    // When the timer fires next, in timestamp units; long.MaxValue while it sleeps and while a scan runs
    // (so every Armed during a scan reports its time). Written under the lock, read without it by Armed.
    private long _wakeAt = long.MaxValue;

    // The earliest time reported by Armed while a scan ran (under the lock).
    private long _armedDuringScan = long.MaxValue;

    // When the last scan started: the next tick is at least one resolution after it (under the lock).
    private long _lastScan = long.MinValue;

    /// <summary>Creates a scanner on <paramref name="time"/> that ticks every <paramref name="resolution"/>
    /// once <see cref="Start"/> is called.</summary>
    public DeadlineScanner(TimeProvider time, TimeSpan resolution)
    {
        _time = time;
        Resolution = resolution;
        ResolutionTicks = ToTicks(resolution);
    }

    /// <summary>Time between scans: the most a timeout can fire late.</summary>
    public TimeSpan Resolution { get; }

    /// <summary><see cref="Resolution"/> in timestamp units.</summary>
    public long ResolutionTicks { get; }

    /// <summary>Whether the timer runs only while a slot is registered, started by
    /// <see cref="Register"/> and stopped by the <see cref="Unregister"/> that frees the last slot,
    /// instead of from <see cref="Start"/>.</summary>
    public bool TicksOnDemand { get; init; }

    /// <summary>Whether the timer is running (a test probe for <see cref="TicksOnDemand"/>).</summary>
    public bool IsTicking
    {
        get
        {
            lock (_lock)
            {
                return _timer is not null;
            }
        }
    }

    /// <summary>When the timer is set to fire next, or <see langword="null"/> while it sleeps (a test probe).</summary>
    public long? NextTick
    {
        get
        {
            lock (_lock)
            {
                return _timer is null || _wakeAt == long.MaxValue ? null : _wakeAt;
            }
        }
    }

    /// <summary>A slot's hint was just set to <paramref name="due"/>, possibly earlier than anything the
    /// scanner has seen: brings the next tick forward if it is later. Call after writing the slot.</summary>
    /// <remarks>Costs a full fence and a read on the caller's path; takes the lock only when the tick moves.
    /// The fence pairs with the one a scan makes when it starts: either that scan reads the hint, or this
    /// call sees the scan running and reports the time to it.</remarks>
    public void Armed(long due)
    {
        Interlocked.MemoryBarrier();
        if (due < Volatile.Read(ref _wakeAt))
        {
            BringForward(due);
        }
    }

    /// <summary>The clock every slot is written in.</summary>
    public TimeProvider Time => _time;

    /// <summary>Slots in use: connections registered now.</summary>
    public int Registered => Volatile.Read(ref _registered);

    /// <summary>Scans completed since the start (a test and benchmark figure).</summary>
    public long Scans => Interlocked.Read(ref _scans);

    private long _scans;

    /// <summary>The current timestamp, in the units the slots hold.</summary>
    public long Now => _time.GetTimestamp();

    /// <summary>Starts the timer: it ticks whenever a hint can be due. Call once, and not on a scanner that
    /// <see cref="TicksOnDemand"/>.</summary>
    public void Start()
    {
        lock (_lock)
        {
            StartTimer();
            if (_registered > 0)
            {
                SetNextTick(Now); // slots written before the start (their Armed found no timer): look at once
            }
        }
    }

    /// <summary>Stops ticking for good; registered slots are left as they are.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>Converts a duration to timestamp units (0 stays 0: "off").</summary>
    public long ToTicks(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            return 0;
        }

        // Saturate instead of overflowing: a duration of centuries means "never" in practice.
        var ticks = duration.TotalSeconds * _time.TimestampFrequency;
        return ticks >= long.MaxValue / 4 ? long.MaxValue / 4 : Math.Max(1, (long)ticks);
    }

    /// <summary>Converts timestamp units back to a duration, for messages and getters.</summary>
    public TimeSpan ToTimeSpan(long ticks) =>
        ticks <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)ticks / _time.TimestampFrequency);

    /// <summary>Converts an absolute time to a timestamp on this scanner's clock.</summary>
    public long ToTimestamp(DateTimeOffset deadline)
    {
        var now = Now;
        var delta = deadline - _time.GetUtcNow();
        if (delta <= TimeSpan.Zero)
        {
            // Already passed: due at once, however far in the past (and without underflow).
            return now - Math.Min(now, ToTicks(-delta));
        }

        return now + ToTicks(delta);
    }

    /// <summary>Converts a timestamp back to an absolute time, for messages.</summary>
    public DateTimeOffset ToDateTimeOffset(long timestamp) =>
        _time.GetUtcNow() + TimeSpan.FromSeconds((double)(timestamp - Now) / _time.TimestampFrequency);

    /// <summary>Gives <paramref name="owner"/> a slot with nothing to check.</summary>
    /// <returns>The chunk holding the slot and its index there: the owner writes
    /// <c>chunk.Slots[index]</c> directly.</returns>
    public (TimerChunk Chunk, int Index) Register(IDeadlineTarget owner)
    {
        lock (_lock)
        {
            if (!_free.TryPop(out var slot))
            {
                slot = _nextSlot++;
                if (slot / TimerChunk.Size >= _chunks.Length)
                {
                    Volatile.Write(ref _chunks, [.. _chunks, new TimerChunk(slot)]);
                }
            }

            var chunk = _chunks[slot / TimerChunk.Size];
            var index = slot % TimerChunk.Size;
            chunk.Slots[index] = TimerSlot.Empty;
            Volatile.Write(ref chunk.Owners[index], owner);
            _registered++;
            if (TicksOnDemand && _timer is null && !_disposed)
            {
                StartTimer();
            }

            return (chunk, index);
        }
    }

    /// <summary>Frees a slot. The owner must not write it afterwards: the next owner would see its hints.</summary>
    public void Unregister(TimerChunk chunk, int index)
    {
        lock (_lock)
        {
            Volatile.Write(ref chunk.Owners[index], null);
            chunk.Slots[index] = TimerSlot.Empty;
            _free.Push(chunk.FirstSlot + index);
            _registered--;
            if (TicksOnDemand && _registered == 0)
            {
                _timer?.Dispose();
                _timer = null;
            }
        }
    }

    /// <summary>One pass over every slot at <paramref name="now"/>: calls each owner with a due slot.</summary>
    /// <returns>How many owners were called.</returns>
    public int Scan(long now) => Scan(now, out _);

    /// <summary>One pass over every slot at <paramref name="now"/>: calls each owner with a due slot, and
    /// finds the earliest hint left afterwards (<see cref="long.MaxValue"/>: nothing to time).</summary>
    /// <returns>How many owners were called.</returns>
    public int Scan(long now, out long earliest)
    {
        var called = 0;
        earliest = long.MaxValue;
        foreach (var chunk in Volatile.Read(ref _chunks))
        {
            var slots = chunk.Slots;
            for (var i = 0; i < slots.Length; i++)
            {
                var due = slots[i].Earliest;
                if (due > now)
                {
                    earliest = Math.Min(earliest, due);
                    continue;
                }

                var owner = Volatile.Read(ref chunk.Owners[i]);
                if (owner is null)
                {
                    continue;
                }

                called++;
                try
                {
                    owner.OnDeadlineDue(now);
                }
                catch (Exception)
                {
                    // An abort that failed leaves that connection to its own loops; the scan must go on
                    // for the others.
                }

                // The owner moved its hints on (the next rate check) or cleared them.
                earliest = Math.Min(earliest, slots[i].Earliest);
            }
        }

        Interlocked.Increment(ref _scans);
        return called;
    }

    // Called under the lock. The timer sleeps until a hint is armed (Armed) or a scan sets it.
    private void StartTimer()
    {
        if (_timer is null)
        {
            _timer = _time.CreateTimer(static s => ((DeadlineScanner)s!).Tick(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _wakeAt = long.MaxValue;
        }
    }

    private void BringForward(long due)
    {
        lock (_lock)
        {
            if (_timer is null)
            {
                return; // not started, stopped on demand, or disposed: nothing to tick
            }

            if (_scanning != 0)
            {
                _armedDuringScan = Math.Min(_armedDuringScan, due); // the scan sets the next tick with it
                return;
            }

            if (due < _wakeAt)
            {
                SetNextTick(due);
            }
        }
    }

    // Called under the lock with the timer present: the next tick at `due`, but at least one resolution
    // after the last scan (so ticks never come faster than they used to).
    private void SetNextTick(long due)
    {
        var at = _lastScan == long.MinValue ? due : Math.Max(due, _lastScan + ResolutionTicks);
        _wakeAt = at;
        var wait = at - Now;
        // Rounded up to the millisecond, so the tick is not early by a rounding.
        _timer!.Change(wait <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Ceiling(wait * 1000.0 / _time.TimestampFrequency)), Timeout.InfiniteTimeSpan);
    }

    private void Tick()
    {
        if (Interlocked.Exchange(ref _scanning, 1) != 0)
        {
            return; // The previous scan is still running: it sets the next tick.
        }

        long now;
        lock (_lock)
        {
            now = Now;
            _lastScan = now;
            // A full fence (pairs with Armed's): from here every Armed reports to this scan.
            Interlocked.Exchange(ref _wakeAt, long.MaxValue);
        }

        // Until the scan completes, assume something is due one resolution on: a scan that threw part-way
        // must not put the timer to sleep over slots it never read.
        var earliest = now + ResolutionTicks;
        try
        {
            Scan(now, out var found);
            earliest = found;
        }
        finally
        {
            lock (_lock)
            {
                var next = Math.Min(earliest, _armedDuringScan);
                _armedDuringScan = long.MaxValue;
                Volatile.Write(ref _scanning, 0);
                if (_timer is not null && next != long.MaxValue)
                {
                    SetNextTick(next);
                }
            }
        }
    }
}
