using System.Runtime.InteropServices;
using Sockeye.Diagnostics;

namespace Sockeye.Transport.Epoll;

/// <summary>
/// Sockeye's own epoll loop: one thread waiting in <c>epoll_wait</c> on the connections registered
/// with it, telling each connection's reader and writer when its socket became readable or writable.
/// </summary>
/// <remarks>
/// <para>A socket is added at its first <c>EAGAIN</c> (a connection whose first read finds its bytes
/// already there causes no wake-up), for input and the peer's FIN; output is added the first time a
/// send finds the buffer full, which most connections never do.</para>
/// <para>Why not .NET's socket engine: an idle connection waiting there holds a
/// <c>SocketAsyncEventArgs</c>, the socket's <c>SocketAsyncContext</c> with its operation queues and
/// locks, and a receive operation object — about 670 bytes per connection (docs/MEMORY.md). Here a
/// connection is registered once, edge-triggered, and waiting costs it an integer in its reader: the wait state (see <see cref="PollState"/>). The reader and writer call
/// <c>recv</c>/<c>sendmsg</c> themselves, without blocking, and wait only after the kernel answered
/// <c>EAGAIN</c> — the way Go's netpoller works.</para>
/// <para>An event names its connection by a token: the slot in this poller's table, the poller's
/// index and a generation. A slot is freed when the socket closes and may be reused at once; an event
/// still in flight for the old socket then carries the old generation and is dropped.</para>
/// <para>A socket leaves epoll with <c>EPOLL_CTL_DEL</c> before it is closed (a registration outlives
/// the close while a <c>dup()</c>ed descriptor keeps the socket open). An exception escaping one
/// event's dispatch aborts that connection and is logged, rate-limited: it never ends the poll thread,
/// which serves every other connection registered here.</para>
/// <para>Lock order: a connection's lock (<see cref="SocketConnection.SyncRoot"/>) may be held while
/// this poller's lock is taken, never the other way round; events are dispatched without this lock.</para>
/// </remarks>
internal sealed unsafe class Poller
{
    private const int MaxEvents = 256;

    // One line per second at most, whichever connections fail: a bug that throws on every event
    // must not flood the log from the poll thread.
    private static readonly LogRateLimiter s_dispatchFailureLog = new(TimeProvider.System, TimeSpan.FromSeconds(1));

    private readonly int _epfd;
    private readonly int _index;
    private readonly object _lock = new();

    // The registered connections by slot; read by the poll thread without the lock (a copy made when
    // the table grows is published before any socket in a new slot is added to epoll).
    private SocketConnection?[] _slots = new SocketConnection?[1024];
    private int[] _freeSlots = new int[1024];
    private int _freeCount;
    private int _neverUsed;
    private uint _generation;

    // Listening sockets accepted on this loop, by the low bits of their token (AcceptorMark set);
    // copied on change, read by the poll thread without the lock. Never more than a few.
    private IAcceptReady?[] _listeners = [];

    /// <summary>The bit that marks a token as a listener's rather than a connection's slot.</summary>
    private const uint ListenerMark = 0x8000_0000;

    /// <summary>A connection's token before it is registered: names the poller that accepted it (so
    /// its registration goes there, to the loop whose thread started it) and no slot.</summary>
    private const uint NoSlot = 0xFFFF_FFFF;

    public Poller(int index, string name)
    {
        _index = index;
        _epfd = EpollNative.EpollCreate(EpollNative.EPOLL_CLOEXEC);
        if (_epfd < 0)
        {
            throw EpollNative.Failure(Marshal.GetLastPInvokeError());
        }

        var thread = new Thread(Run) { IsBackground = true, Name = name };
        thread.UnsafeStart();
    }

    /// <summary>Adds <paramref name="connection"/>'s socket to this poller, edge-triggered for
    /// <paramref name="events"/>, and gives the connection its token.</summary>
    /// <exception cref="System.Net.Sockets.SocketException"><c>epoll_ctl</c> failed (out of memory or
    /// the user's epoll watch limit).</exception>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public void Register(SocketConnection connection, uint events)
    {
        int slot;
        ulong token;
        lock (_lock)
        {
            slot = _freeCount > 0 ? _freeSlots[--_freeCount] : _neverUsed++;
            if (slot == _slots.Length)
            {
                var grown = new SocketConnection?[_slots.Length * 2];
                Array.Copy(_slots, grown, _slots.Length);
                Volatile.Write(ref _slots, grown);
                Array.Resize(ref _freeSlots, grown.Length);
            }

            _generation = (_generation + 1) & 0xFFFFFF;
            token = ((ulong)((_generation << 8) | (uint)_index) << 32) | (uint)slot;
            connection.PollToken = token;
            _slots[slot] = connection;
        }

        int error;
        try
        {
            error = EpollNative.Control(_epfd, EpollNative.EPOLL_CTL_ADD, connection.Handle, events, token);
        }
        catch
        {
            Release(token);
            throw;
        }

        if (error != 0)
        {
            Release(token);
            throw EpollNative.Failure(error);
        }
    }

    /// <summary>This poller's index in its group.</summary>
    public int Index => _index;

    /// <summary>The token of a connection accepted on this poller and not yet registered: its
    /// registration (<see cref="PollerGroup.Register"/>) comes back here.</summary>
    public ulong AcceptedToken => ((ulong)(uint)_index << 32) | NoSlot;

    /// <summary>Whether <paramref name="token"/> is an <see cref="AcceptedToken"/>.</summary>
    public static bool IsAcceptedToken(ulong token) => (uint)token == NoSlot;

    /// <summary>Adds a listening socket, level-triggered for input (what a bounded accept batch leaves
    /// is reported again), with <c>EPOLLEXCLUSIVE</c> when <paramref name="exclusive"/> (the
    /// listener is shared with other pollers: one of them is woken per connection, preferably one
    /// that waits).</summary>
    /// <returns>0, or the <c>errno</c> of <c>epoll_ctl</c>.</returns>
    /// <exception cref="ObjectDisposedException">The listener was closed.</exception>
    public int AddListener(System.Net.Sockets.SafeSocketHandle listener, IAcceptReady target, bool exclusive)
    {
        int index;
        lock (_lock)
        {
            index = Array.IndexOf(_listeners, null);
            if (index < 0)
            {
                index = _listeners.Length;
                var grown = new IAcceptReady?[index + 1];
                Array.Copy(_listeners, grown, index);
                grown[index] = target;
                Volatile.Write(ref _listeners, grown);
            }
            else
            {
                var copy = (IAcceptReady?[])_listeners.Clone();
                copy[index] = target;
                Volatile.Write(ref _listeners, copy);
            }
        }

        var events = EpollNative.EPOLLIN | (exclusive ? EpollNative.EPOLLEXCLUSIVE : 0);
        var error = EpollNative.Control(_epfd, EpollNative.EPOLL_CTL_ADD, listener, events, ((ulong)(uint)_index << 32) | ListenerMark | (uint)index);
        if (error != 0)
        {
            RemoveListenerSlot(target);
        }

        return error;
    }

    /// <summary>Takes a listening socket out of this poller (<c>EPOLL_CTL_DEL</c>, while it is still
    /// open: a listener shared with other processes stays open after our close, and so would its
    /// registration). An event already returned for it is dropped or finds the target stopped.</summary>
    public void RemoveListener(System.Net.Sockets.SafeSocketHandle listener, IAcceptReady target)
    {
        try
        {
            EpollNative.Control(_epfd, EpollNative.EPOLL_CTL_DEL, listener, 0, 0);
        }
        catch (ObjectDisposedException)
        {
            // Closed already: not shared, so the close removed the registration.
        }

        RemoveListenerSlot(target);
    }

    private void RemoveListenerSlot(IAcceptReady target)
    {
        lock (_lock)
        {
            var index = Array.IndexOf(_listeners, target);
            if (index >= 0)
            {
                var copy = (IAcceptReady?[])_listeners.Clone();
                copy[index] = null;
                Volatile.Write(ref _listeners, copy);
            }
        }
    }

    /// <summary>Changes the events a registered connection's socket waits for.</summary>
    /// <exception cref="System.Net.Sockets.SocketException"><c>epoll_ctl</c> failed.</exception>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public void Modify(SocketConnection connection, uint events)
    {
        var error = EpollNative.Control(_epfd, EpollNative.EPOLL_CTL_MOD, connection.Handle, events, connection.PollToken);
        if (error != 0)
        {
            throw EpollNative.Failure(error);
        }
    }

    /// <summary>Whether a connection with <paramref name="token"/> holds a slot (a test probe).</summary>
    public bool IsRegistered(ulong token)
    {
        lock (_lock)
        {
            return Owner(_slots, token) is not null;
        }
    }

    /// <summary>Takes <paramref name="connection"/>'s socket out of epoll (<c>EPOLL_CTL_DEL</c>, while
    /// its descriptor is still open) and frees its slot. Errors are ignored: a socket already closed
    /// has left epoll unless duplicated, and the slot is freed either way.</summary>
    public void Unregister(SocketConnection connection)
    {
        var token = connection.PollToken;
        try
        {
            EpollNative.Control(_epfd, EpollNative.EPOLL_CTL_DEL, connection.Handle, 0, 0);
        }
        catch (ObjectDisposedException)
        {
            // Closed before it was unregistered: nothing left to remove but the slot.
        }

        Release(token);
    }

    /// <summary>Frees the slot of the connection with <paramref name="token"/>. A token no longer
    /// registered is ignored.</summary>
    private void Release(ulong token)
    {
        lock (_lock)
        {
            if (Owner(_slots, token) is not null)
            {
                var slot = (int)(uint)token;
                _slots[slot] = null;
                _freeSlots[_freeCount++] = slot;
            }
        }
    }

    /// <summary>The epoll descriptor, for tests that look at its registrations
    /// (<c>/proc/self/fdinfo</c>).</summary>
    internal int Descriptor => _epfd;

    /// <summary>A test hook run before each event's dispatch, on the poll thread (an exception from
    /// it is an exception escaping the dispatch). Null outside tests: one static read per event.</summary>
    internal static Action<SocketConnection, uint>? BeforeDispatch { get; set; }

    /// <summary>Hands one event to the connection <paramref name="token"/> names, if its slot still
    /// holds it: an event for an earlier owner of a reused slot carries an older generation and is
    /// dropped. Never throws: a failing dispatch aborts its connection and the poll thread goes on.
    /// Called on the poll thread, and by tests.</summary>
    /// <returns>Whether the event reached a connection.</returns>
    internal bool Dispatch(ulong token, uint events)
    {
        var connection = Owner(Volatile.Read(ref _slots), token);
        if (connection is null)
        {
            return false;
        }

        try
        {
            BeforeDispatch?.Invoke(connection, events);
            connection.OnPollEvents(events);
        }
#pragma warning disable CA1031 // The poll thread serves every connection registered here: nothing may end it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            OnDispatchFailed(connection, ex);
        }

        return true;
    }

    private void DispatchAccept(int index)
    {
        var listeners = Volatile.Read(ref _listeners);
        if ((uint)index < (uint)listeners.Length && listeners[index] is { } target)
        {
            target.OnAcceptReady(this);
        }
    }

    private static void OnDispatchFailed(SocketConnection connection, Exception exception)
    {
        try
        {
            // Its reader or writer may have lost the wake-up: end the connection rather than leave
            // its handler waiting for an edge that was consumed.
            connection.Abort($"the poll thread's event dispatch failed: {exception.Message}");
            if (connection.Context.Logger is { } logger && s_dispatchFailureLog.TryEnter(out var suppressed))
            {
                SockeyeLog.PollDispatchFailed(logger, connection.Id, suppressed, exception);
            }
        }
#pragma warning disable CA1031 // As above: a failing abort or logger must not end the poll thread either.
        catch
#pragma warning restore CA1031
        {
        }
    }

    /// <summary>The connection <paramref name="token"/> names, if its slot still holds it (not a
    /// later connection in a reused slot).</summary>
    private static SocketConnection? Owner(SocketConnection?[] slots, ulong token)
    {
        var slot = (int)(uint)token;
        return (uint)slot < (uint)slots.Length && slots[slot] is { } connection && connection.PollToken == token ? connection : null;
    }

    private void Run()
    {
        var size = EpollNative.EventSize;
        var dataOffset = EpollNative.EventDataOffset;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * size));
        while (true)
        {
            var count = EpollNative.EpollWait(_epfd, events, MaxEvents, -1);
            if (count < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EpollNative.EINTR)
                {
                    continue;
                }

                // Cannot happen with a valid epoll descriptor and buffer; without this loop no
                // connection of the process would ever be served again.
                Environment.FailFast($"Sockeye: epoll_wait failed with errno {errno}");
            }

            // Dispatch reads the slot table after the wait: every socket that produced these events
            // was added to epoll after its slot was published.
            for (var i = 0; i < count; i++)
            {
                var entry = events + (i * size);
                var token = *(ulong*)(entry + dataOffset);
                if (((uint)token & ListenerMark) != 0)
                {
                    DispatchAccept((int)((uint)token & ~ListenerMark));
                }
                else
                {
                    Dispatch(token, *(uint*)entry);
                }
            }
        }
    }
}

/// <summary>
/// The pollers of one kind: with inline completions one per core (continuations run on the poll
/// thread, so every core needs one), otherwise one per 16 cores, handing continuations to the thread
/// pool; or as many as a server asked for (<see cref="TcpServerOptions.PollThreads"/>). Each kind and
/// count is created on first use and lives for the process, shared by every server that asks for it.
/// </summary>
internal sealed class PollerGroup
{
    /// <summary>The most poll threads a group may have: a connection's token keeps its poller's index
    /// in 8 bits, and more threads than this would only contend.</summary>
    public const int MaxPollers = 64;

    private static readonly Lock s_create = new();
    private static readonly Dictionary<(bool Inline, int Count), PollerGroup> s_groups = [];

    private readonly Poller[] _pollers;
    private int _next;

    private PollerGroup(bool inline, int count)
    {
        Inline = inline;
        _pollers = new Poller[count];
        for (var i = 0; i < count; i++)
        {
            _pollers[i] = new Poller(i, inline ? $"sockeye-epoll-inline-{i}" : $"sockeye-epoll-{i}");
        }
    }

    /// <summary>How many poll threads a group of the kind has by default.</summary>
    public static int DefaultCount(bool inline) =>
        inline ? Math.Clamp(Environment.ProcessorCount, 1, MaxPollers) : Math.Clamp(Environment.ProcessorCount / 16, 1, 16);

    /// <summary>Whether this machine can run the epoll engine: Linux on x86-64 or arm64.</summary>
    public static bool IsSupported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>Whether continuations run on the poll threads.</summary>
    public bool Inline { get; }

    /// <summary>The process's group of the given kind, with <paramref name="count"/> poll threads
    /// (0: <see cref="DefaultCount"/>). A count equal to the default is the default group.</summary>
    public static PollerGroup Get(bool inline, int count = 0)
    {
        if (count == 0)
        {
            count = DefaultCount(inline);
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxPollers);
        lock (s_create)
        {
            if (!s_groups.TryGetValue((inline, count), out var group))
            {
                group = new PollerGroup(inline, count);
                s_groups.Add((inline, count), group);
            }

            return group;
        }
    }

    /// <summary>The pollers, for the accept path (a listener is added to each, or one per listener).</summary>
    public IReadOnlyList<Poller> Pollers => _pollers;

    /// <summary>Registers <paramref name="connection"/> with the poller that accepted it (its
    /// <see cref="Poller.AcceptedToken"/>), else with the next poller, round robin.</summary>
    public void Register(SocketConnection connection, uint events)
    {
        var token = connection.PollToken;
        var poller = Poller.IsAcceptedToken(token)
            ? PollerOf(token)
            : _pollers[(int)((uint)Interlocked.Increment(ref _next) % (uint)_pollers.Length)];
        poller.Register(connection, events);
    }

    /// <summary>Changes what a registered connection waits for; see <see cref="Poller.Modify"/>.</summary>
    public void Modify(SocketConnection connection, uint events) =>
        _pollers[(int)((connection.PollToken >> 32) & 0xFF)].Modify(connection, events);

    /// <summary>Whether a connection with <paramref name="token"/> holds a slot (a test probe).</summary>
    public bool IsRegistered(ulong token) => token != 0 && _pollers[(int)((token >> 32) & 0xFF)].IsRegistered(token);

    /// <summary>Takes the connection out of epoll and frees its slot; see <see cref="Poller.Unregister"/>.</summary>
    public void Unregister(SocketConnection connection) => PollerOf(connection.PollToken).Unregister(connection);

    /// <summary>The poller a connection with <paramref name="token"/> is registered with.</summary>
    internal Poller PollerOf(ulong token) => _pollers[(int)((token >> 32) & 0xFF)];
}

/// <summary>
/// The wait state shared by a reader or writer (waiting after <c>EAGAIN</c>) and the poll thread
/// (reporting readiness), without a lock: an edge that arrives between the <c>EAGAIN</c> and the wait
/// is kept as <see cref="Ready"/> and makes the waiter try again instead of sleeping through it.
/// </summary>
internal static class PollState
{
    /// <summary>Nobody waits and no edge is pending.</summary>
    public const int Idle = 0;

    /// <summary>An edge arrived while nobody waited.</summary>
    public const int Ready = 1;

    /// <summary>The reader or writer waits for the next edge.</summary>
    public const int Waiting = 2;

    /// <summary>The socket was closed: no edge will come.</summary>
    public const int Closed = 3;

    /// <summary>Records an edge; <see langword="true"/> when a waiter must be woken (the state is then
    /// <see cref="Idle"/> again and the caller owns the wake-up).</summary>
    public static bool Signal(ref int state)
    {
        while (true)
        {
            var current = Volatile.Read(ref state);
            if (current == Waiting)
            {
                if (Interlocked.CompareExchange(ref state, Idle, Waiting) == Waiting)
                {
                    return true;
                }
            }
            else if (current == Idle)
            {
                if (Interlocked.CompareExchange(ref state, Ready, Idle) == Idle)
                {
                    return false;
                }
            }
            else
            {
                return false; // already Ready, or Closed
            }
        }
    }

    /// <summary>Called after <c>EAGAIN</c>: <see cref="Waiting"/> (wait for the next edge),
    /// <see cref="Ready"/> (an edge came meanwhile and was consumed: try again) or
    /// <see cref="Closed"/>.</summary>
    public static int BeginWait(ref int state)
    {
        while (true)
        {
            var previous = Interlocked.CompareExchange(ref state, Waiting, Idle);
            if (previous == Idle)
            {
                return Waiting;
            }

            if (previous == Ready)
            {
                if (Interlocked.CompareExchange(ref state, Idle, Ready) == Ready)
                {
                    return Ready;
                }

                continue;
            }

            return previous; // Closed (Waiting cannot be: one waiter at a time)
        }
    }

    /// <summary>Takes back an edge recorded while nobody waited (<see cref="Ready"/> becomes
    /// <see cref="Idle"/>), before a receive or send that covers what the edge announced.</summary>
    public static void TakeReady(ref int state)
    {
        if (Volatile.Read(ref state) == Ready)
        {
            Interlocked.CompareExchange(ref state, Idle, Ready);
        }
    }

    /// <summary>Marks the socket closed; <see langword="true"/> when someone was waiting and must be woken.</summary>
    public static bool Close(ref int state) => Interlocked.Exchange(ref state, Closed) == Waiting;
}
