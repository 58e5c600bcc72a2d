using System.Diagnostics;
using System.Net;

namespace Sockeye.Bench;

/// <summary>
/// <c>bench idle</c> on its own epoll loop (the default on Linux for plain TCP): every connection is a
/// bare descriptor, opened and proved with one round trip by one thread, held out of epoll during the
/// hold, and proved again at the end — the same counts as <see cref="IdleWorkload"/>, at the cost of
/// the server's own engine: 5 bytes of process memory per idle connection (its descriptor number and
/// its state) instead of a .NET <see cref="System.Net.Sockets.Socket"/>'s ~3 KB.
/// </summary>
/// <remarks>
/// <para>At most <see cref="BenchSettings.ConnectConcurrency"/> connections are in flight (connecting or
/// in a round trip) at once, each in a slot of its own with its progress; a held connection has no
/// slot. Each step (the connect, each proving round trip) must finish within
/// <see cref="BenchSettings.ConnectTimeout"/>, else it counts as failed.</para>
/// <para>A held connection is not registered with epoll, so the hold costs no wake-ups: a server that
/// closes a connection during the hold is found by the final round trip, as with .NET sockets.</para>
/// </remarks>
internal sealed class EpollIdleWorkload : Workload
{
    // States of a connection: no descriptor (never opened, failed, or in flight), or held between proofs.
    private const byte Gone = 0;
    private const byte Held = 1;

    // Stages of a connection in a slot.
    private const byte Connecting = 1;
    private const byte Sending = 2;
    private const byte Receiving = 3;

    private const int MaxEvents = 256;

    private readonly TaskCompletionSource _holdEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _destination;
    private readonly byte[]?[] _sources;
    private readonly int[] _fds;
    private readonly byte[] _states;
    private readonly Slot[] _slots;
    private readonly Stack<int> _freeSlots = new();
    private readonly byte[] _scratch;
    private readonly long _stepTimeout;
    private readonly Lock _lifetime = new();
    private Thread? _loop;
    private int _epfd = -1;
    private volatile bool _stopping;
    private bool _disposed;

    public EpollIdleWorkload(BenchSettings settings)
        : base(settings)
    {
        var destination = (IPEndPoint)settings.EndPoint;
        _destination = RawSockets.Address(destination);
        _sources = settings.SourceAddresses is { } sources
            ? [.. sources.Addresses.Select(a => RawSockets.Address(new IPEndPoint(a, 0)))]
            : [null];
        if (_sources.Any(s => s is not null && s.Length != _destination.Length))
        {
            throw new ArgumentException($"--source-ips must be of the same address family as --host {settings.Host}");
        }

        _fds = new int[settings.Connections];
        _states = new byte[settings.Connections];
        _slots = new Slot[Math.Max(1, settings.ConnectConcurrency)];
        for (var i = _slots.Length - 1; i >= 0; i--)
        {
            _freeSlots.Push(i);
        }

        _scratch = new byte[Math.Min(Pattern.BatchBytes, 64 * 1024)];
        _stepTimeout = (long)(settings.ConnectTimeout.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Opens every connection and proves it with round trip 0.</summary>
    public override Task PrepareAsync(CancellationToken cancellationToken)
    {
        _epfd = RawSockets.EpollCreate();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancel = cancellationToken.Register(() => _stopping = true);
        Start("open", () =>
        {
            try
            {
                Run(opening: true);
                if (cancellationToken.IsCancellationRequested)
                {
                    done.TrySetCanceled(cancellationToken);
                }
                else
                {
                    done.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
            finally
            {
                cancel.Dispose();
            }
        });
        return done.Task;
    }

    /// <summary>Waits for the hold to end, then proves every held connection with round trip 1.</summary>
    public override async Task RunAsync()
    {
        await _holdEnded.Task.ConfigureAwait(false);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lifetime)
        {
            if (_disposed)
            {
                return;
            }

            Start("prove", () =>
            {
                try
                {
                    Run(opening: false);
                    done.TrySetResult();
                }
                catch (Exception ex)
                {
                    done.TrySetException(ex);
                }
            });
        }

        await done.Task.ConfigureAwait(false);
    }

    /// <summary>Registers every held connection for its end and waits, on the loop's thread, until the
    /// server has closed them all or <paramref name="limit"/> passes; closes each as its end arrives.</summary>
    public override Task<LingerOutcome> LingerAsync(TimeSpan limit)
    {
        var done = new TaskCompletionSource<LingerOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lifetime)
        {
            if (_disposed || _epfd < 0)
            {
                return Task.FromResult(new LingerOutcome(0, 0, 0));
            }

            Start("linger", () =>
            {
                try
                {
                    done.TrySetResult(Linger(limit));
                }
                catch (Exception ex)
                {
                    done.TrySetException(ex);
                }
            });
        }

        return done.Task;
    }

    /// <summary>Ends the hold; the final round trips run in <see cref="RunAsync"/>.</summary>
    public override void EndMeasurement() => _holdEnded.TrySetResult();

    /// <summary>Closes the window once the final round trips are done.</summary>
    public override void Complete() => base.EndMeasurement();

    /// <summary>Stops the loop (a step in flight counts as failed) and closes every descriptor.</summary>
    public override async ValueTask DisposeAsync()
    {
        Thread? loop;
        lock (_lifetime)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _stopping = true;
            loop = _loop;
        }

        _holdEnded.TrySetResult();
        loop?.Join(); // The loop looks at _stopping at least every 100 ms.
        for (var i = 0; i < _fds.Length; i++)
        {
            if (_states[i] == Held)
            {
                RawSockets.Close(_fds[i]);
                _states[i] = Gone;
            }
        }

        if (_epfd >= 0)
        {
            RawSockets.Close(_epfd);
            _epfd = -1;
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private unsafe LingerOutcome Linger(TimeSpan limit)
    {
        long open = 0, closed = 0, reset = 0, refused = 0;
        for (var i = 0; i < _fds.Length; i++)
        {
            if (_states[i] != Held)
            {
                continue;
            }

            if (RawSockets.Control(_epfd, RawSockets.EPOLL_CTL_ADD, _fds[i], RawSockets.EPOLLIN | RawSockets.EPOLLRDHUP, Token(0, i)) == 0)
            {
                open++;
            }
            else
            {
                RawSockets.Close(_fds[i]); // Cannot be watched: closed by us, counted as still open.
                _states[i] = Gone;
                refused++;
            }
        }

        var events = stackalloc byte[MaxEvents * RawSockets.EventSize];
        var deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (open > 0 && !_stopping)
        {
            var left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0)
            {
                break;
            }

            var count = RawSockets.Wait(_epfd, events, MaxEvents, (int)Math.Min(100, (left * 1000 / Stopwatch.Frequency) + 1));
            for (var e = 0; e < count; e++)
            {
                var index = (int)(*(ulong*)(events + (e * RawSockets.EventSize) + RawSockets.EventDataOffset) >> 32);
                if (_states[index] != Held)
                {
                    continue;
                }

                int received, errno;
                while ((received = RawSockets.Receive(_fds[index], _scratch, out errno)) > 0)
                {
                    // An echo server has nothing to send here; whatever comes is read and dropped.
                }

                if (received < 0 && errno == RawSockets.EAGAIN)
                {
                    continue;
                }

                if (received == 0)
                {
                    closed++;
                }
                else
                {
                    reset++;
                }

                RawSockets.Close(_fds[index]);
                _states[index] = Gone;
                open--;
            }
        }

        for (var i = 0; i < _fds.Length; i++)
        {
            if (_states[i] == Held)
            {
                RawSockets.Close(_fds[i]);
                _states[i] = Gone;
            }
        }

        return new LingerOutcome(closed, reset, open + refused);
    }

    private void Start(string phase, ThreadStart body)
    {
        _loop = new Thread(body) { IsBackground = true, Name = $"bench idle {phase}" };
        _loop.Start();
    }

    // One phase: opening (connect + round trip 0 for every connection) or proving (round trip 1 for every held one).
    private unsafe void Run(bool opening)
    {
        var events = stackalloc byte[MaxEvents * RawSockets.EventSize];
        var next = 0;
        var inFlight = 0;
        var lastSweep = Stopwatch.GetTimestamp();
        while (true)
        {
            while (!_stopping && _freeSlots.Count > 0 && next < _fds.Length)
            {
                var index = next++;
                if (opening || _states[index] == Held)
                {
                    inFlight += Begin(index, opening) ? 1 : 0;
                }
            }

            if (inFlight == 0 && (next >= _fds.Length || _stopping))
            {
                return;
            }

            var count = RawSockets.Wait(_epfd, events, MaxEvents, 100);
            for (var e = 0; e < count; e++)
            {
                var ev = events + (e * RawSockets.EventSize);
                var data = *(ulong*)(ev + RawSockets.EventDataOffset);
                var slot = (int)(uint)data;
                if (_slots[slot].InUse && _slots[slot].Index == (int)(data >> 32) && !Step(slot, opening))
                {
                    inFlight--;
                }
            }

            var now = Stopwatch.GetTimestamp();
            if (_stopping || now - lastSweep > Stopwatch.Frequency / 10)
            {
                lastSweep = now;
                for (var slot = 0; slot < _slots.Length; slot++)
                {
                    if (_slots[slot].InUse && (_stopping || now - _slots[slot].Started > _stepTimeout))
                    {
                        Fail(slot, opening, mismatch: false);
                        inFlight--;
                    }
                }
            }
        }
    }

    // Starts connection index's step in a free slot; false when it failed at once (already counted).
    private bool Begin(int index, bool opening)
    {
        var slot = _freeSlots.Pop();
        ref var s = ref _slots[slot];
        s = new Slot { InUse = true, Index = index, Started = Stopwatch.GetTimestamp() };
        if (opening)
        {
            var fd = RawSockets.StartConnect(_destination, _sources[index % _sources.Length], out var connected, out _);
            if (fd < 0)
            {
                s.InUse = false;
                _freeSlots.Push(slot);
                CountConnectFailure();
                return false;
            }

            _fds[index] = fd;
            _states[index] = Gone; // Until proved.
            s.Stage = connected ? Sending : Connecting;
            if (RawSockets.Control(_epfd, RawSockets.EPOLL_CTL_ADD, fd, RawSockets.EPOLLOUT, Token(slot, index)) != 0)
            {
                Fail(slot, opening, mismatch: false);
                return false;
            }
        }
        else
        {
            _states[index] = Gone; // Until proved again.
            s.Stage = Sending;
            if (RawSockets.Control(_epfd, RawSockets.EPOLL_CTL_ADD, _fds[index], RawSockets.EPOLLOUT, Token(slot, index)) != 0)
            {
                Fail(slot, opening, mismatch: false);
                return false;
            }
        }

        return s.Stage != Sending || Step(slot, opening);
    }

    // Moves slot's connection on after a readiness event; false when its step ended (slot freed).
    private bool Step(int slot, bool opening)
    {
        ref var s = ref _slots[slot];
        var fd = _fds[s.Index];
        var sequence = opening ? 0 : 1;
        if (s.Stage == Connecting)
        {
            if (RawSockets.PendingError(fd) != 0)
            {
                Fail(slot, opening, mismatch: false);
                return false;
            }

            s.Stage = Sending;
        }

        if (s.Stage == Sending)
        {
            var message = Pattern.Batch(s.Index, sequence).Span;
            while (s.Done < message.Length)
            {
                var sent = RawSockets.Send(fd, message[s.Done..], out var errno);
                if (sent < 0)
                {
                    if (errno == RawSockets.EAGAIN)
                    {
                        return true; // EPOLLOUT is still asked for.
                    }

                    Fail(slot, opening, mismatch: false);
                    return false;
                }

                s.Done += sent;
            }

            s.Stage = Receiving;
            s.Done = 0;
            if (RawSockets.Control(_epfd, RawSockets.EPOLL_CTL_MOD, fd, RawSockets.EPOLLIN, Token(slot, s.Index)) != 0)
            {
                Fail(slot, opening, mismatch: false);
                return false;
            }
        }

        var expected = Pattern.Batch(s.Index, sequence).Span;
        while (s.Done < expected.Length)
        {
            var want = Math.Min(_scratch.Length, expected.Length - s.Done);
            var received = RawSockets.Receive(fd, _scratch.AsSpan(0, want), out var errno);
            if (received < 0 && errno == RawSockets.EAGAIN)
            {
                return true;
            }

            if (received <= 0)
            {
                Fail(slot, opening, mismatch: false);
                return false;
            }

            if (!_scratch.AsSpan(0, received).SequenceEqual(expected.Slice(s.Done, received)))
            {
                Fail(slot, opening, mismatch: true);
                return false;
            }

            s.Done += received;
        }

        // Proved: out of epoll for the hold (or for good, after the final proof).
        RawSockets.Control(_epfd, RawSockets.EPOLL_CTL_DEL, fd, 0, 0);
        _states[s.Index] = Held;
        if (opening)
        {
            CountOpened();
        }
        else
        {
            CountOperations(1); // One more connection proved alive.
        }

        Release(slot);
        return false;
    }

    // Ends slot's connection as failed: counted as IdleWorkload counts it, descriptor closed.
    private void Fail(int slot, bool opening, bool mismatch)
    {
        var index = _slots[slot].Index;
        RawSockets.Close(_fds[index]); // Also takes it out of epoll.
        _states[index] = Gone;
        if (opening)
        {
            CountConnectFailure();
        }
        else
        {
            if (mismatch)
            {
                CountMismatch();
            }

            CountError();
            CountClosed();
        }

        Release(slot);
    }

    private void Release(int slot)
    {
        _slots[slot].InUse = false;
        _freeSlots.Push(slot);
    }

    private static ulong Token(int slot, int index) => ((ulong)(uint)index << 32) | (uint)slot;

    // A connection in flight: which one, where it is, and how far its send or receive got.
    private struct Slot
    {
        public bool InUse;
        public byte Stage;
        public int Index;
        public int Done;
        public long Started;
    }
}
