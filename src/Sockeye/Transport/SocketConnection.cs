using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Sockeye.Diagnostics;

namespace Sockeye.Transport;

/// <summary>
/// A <see cref="Connection"/> over a connected <see cref="Socket"/>: <see cref="Input"/> receives from
/// the socket when the handler reads, <see cref="Output"/> sends to it when the handler flushes.
/// </summary>
/// <remarks>
/// <code>
/// socket ──(handler reads)──▶ SocketReader ──▶ handler ──▶ SocketWriter ──(handler flushes)──▶ socket
/// </code>
/// There is no receive loop, send loop or pipe: the handler's own task does the I/O, the way a
/// goroutine does in Go. An idle connection is an armed epoll wait (Sockeye's engine, the default on
/// Linux x86-64 and arm64; with .NET's engine, the fallback, a posted zero-byte receive), the
/// handler's suspended state machine and this object: no buffer, no extra task. Measured against the first design (two
/// pipes and two loops per connection), this halved the memory of an idle connection and removed two
/// hand-offs per round trip; see BENCHMARKS.md.
/// </remarks>
internal sealed partial class SocketConnection : Connection, IThreadPoolWorkItem
{
    private static long s_lastId;

    // Every field here is paid for by every idle connection (docs/MEMORY.md): what all connections
    // of a server share is in _context, what few connections use is in Connection.Extras (the
    // ConnectionClosed source, the abort reason, the local endpoint, the dispose task), and the
    // deadline state exists only when something is timed (SocketConnection.Deadlines.cs).
    // The descriptor, for the epoll engine's own calls; and the .NET socket over it, which only
    // connections that use .NET's engine (or a Unix socket, whose peer address .NET reads) have: a
    // connection the epoll engine accepted is a descriptor alone (no Socket, no syscalls to make one).
    private readonly System.Runtime.InteropServices.SafeHandle _handle;
    private readonly Socket? _socket;
    private readonly ConnectionContext _context;
    private readonly SocketReader _reader;
    private readonly SocketWriter _writer;

    // The handler-done continuation, created with the connection, and also the connection's private
    // monitor (SyncRoot): a served connection allocates this delegate anyway, so locking it instead
    // of a new object() keeps the 24 bytes per idle connection that a lock object would cost.
    private readonly Action _handlerDone;
    // The peer's endpoint, once made; until then an accepted IPv4 peer is only _packedRemote
    // (PeerAddress): most servers never ask, and the endpoint objects are 72 bytes per connection.
    private EndPoint? _remoteEndPoint;
    private readonly long _packedRemote;
    private int _closedFired;
    private int _aborted;

    public SocketConnection(Socket socket, ConnectionContext context)
        // The endpoint is cached by the socket after accept or connect, so keeping it costs nothing
        // and it stays readable after the socket is closed.
        : this(socket.SafeHandle, socket, PeerAddress.Of(socket.RemoteEndPoint), context)
    {
    }

    /// <summary>A connection over a descriptor the epoll engine accepted itself
    /// (the server's poller accept path), with the peer address <c>accept4</c> gave.</summary>
    public SocketConnection(System.Runtime.InteropServices.SafeHandle handle, PeerAddress remote, ConnectionContext context)
        : this(handle, null, remote, context)
    {
    }

    private SocketConnection(System.Runtime.InteropServices.SafeHandle handle, Socket? socket, PeerAddress remote, ConnectionContext context)
    {
        _handle = handle;
        _socket = socket;
        _context = context;
        _handlerDone = OnHandlerDone;
        _reader = new SocketReader(this);
        _writer = new SocketWriter(this);
        _remoteEndPoint = remote.EndPoint;
        _packedRemote = remote.Packed;
        Id = Interlocked.Increment(ref s_lastId);
    }

    public override long Id { get; }

    public override EndPoint? LocalEndPoint
    {
        get
        {
            var extras = Extras.Rare;
            if (extras.LocalEndPoint is null)
            {
                try
                {
                    extras.LocalEndPoint = _socket is { } socket ? socket.LocalEndPoint : ReadLocalEndPoint(_handle);
                }
                catch (ObjectDisposedException)
                {
                }
            }

            return extras.LocalEndPoint;
        }
    }

    public override EndPoint? RemoteEndPoint => Volatile.Read(ref _remoteEndPoint) ?? MakeRemoteEndPoint();

    // First ask for a packed peer: the endpoint is made and kept (one object for every caller, also
    // when two threads ask at once). A PROXY header's client (SetRemoteEndPoint) replaces it.
    private EndPoint? MakeRemoteEndPoint()
    {
        if (PeerAddress.Unpack(_packedRemote) is not { } made)
        {
            return null;
        }

        return Interlocked.CompareExchange(ref _remoteEndPoint, made, null) ?? made;
    }

    private static IPEndPoint? ReadLocalEndPoint(System.Runtime.InteropServices.SafeHandle handle)
    {
        Span<byte> address = stackalloc byte[Epoll.EpollNative.MaxAddressLength];
        var length = Epoll.EpollNative.LocalAddress(handle, address);
        return length < 0 ? null : Epoll.SocketAddressReader.ToEndPoint(address[..length]);
    }

    public override PipeReader Input => _reader;

    public override PipeWriter Output => _writer;

    public override CancellationToken ShutdownRequested => _context.ShutdownRequested;

    public override CancellationToken ConnectionClosed
    {
        get
        {
            // Created only when someone asks: most handlers never do, and an idle connection should
            // not carry a CancellationTokenSource it does not need.
            var extras = Extras.Rare;
            var source = Volatile.Read(ref extras.ClosedSource);
            if (source is null)
            {
                source = new CancellationTokenSource();
                var existing = Interlocked.CompareExchange(ref extras.ClosedSource, source, null);
                if (existing is not null)
                {
                    source.Dispose();
                    source = existing;
                }
                else if (Volatile.Read(ref _closedFired) != 0)
                {
                    source.Cancel();
                }
            }

            return source.Token;
        }
    }

    /// <summary>Whether <see cref="Abort(string)"/> was called.</summary>
    public bool IsAborted => Volatile.Read(ref _aborted) != 0;

    /// <summary>The lock for the reader's state, the epoll registration and the deadline state
    /// (lock order: SocketReader's remarks). Private to the transport: never this connection or its
    /// reader, which the handler holds and may lock itself.</summary>
    internal object SyncRoot => _handlerDone;

    /// <summary>The reader, for the server's shutdown wake-up and for tests.</summary>
    internal SocketReader Reader => _reader;

    /// <summary>The .NET socket, for .NET's engine (the reader's posted receives, the writer's
    /// sends); a connection the epoll engine accepted has none.</summary>
    /// <exception cref="InvalidOperationException">The connection has no <see cref="Socket"/>.</exception>
    internal Socket Socket => _socket ?? throw new InvalidOperationException($"connection {Id} was accepted by the epoll engine and has no .NET Socket");

    /// <summary>The socket's descriptor, for the epoll engine's own system calls.</summary>
    internal System.Runtime.InteropServices.SafeHandle Handle => _handle;

    /// <summary>What this connection shares with the others of its server, for the reader and writer.</summary>
    internal ConnectionContext Context => _context;

    /// <summary>Links in the server's <see cref="ConnectionRegistry"/>.</summary>
    internal SocketConnection? RegistryPrevious { get; set; }

    /// <summary>Links in the server's <see cref="ConnectionRegistry"/>.</summary>
    internal SocketConnection? RegistryNext { get; set; }

    /// <summary>Runs the context's <see cref="ConnectionContext.Start"/> (the server's handler) on the
    /// thread pool. The connection is its own work item, so starting it allocates nothing.</summary>
    internal void Start() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    /// <summary>Runs the handler on the calling thread, up to its first await.</summary>
    internal void StartInline() => _context.Start!(this);

    void IThreadPoolWorkItem.Execute() => _context.Start!(this);

    // The handler's task while it runs; see WhenHandlerDone.
    private Task? _handler;

    /// <summary>Calls the context's <see cref="ConnectionContext.HandlerDone"/> with this connection
    /// when <paramref name="handler"/> completes: at once if it already has, else from a continuation
    /// (the connection's one delegate of 64 bytes, against 144 for an async method awaiting the handler).</summary>
    internal void WhenHandlerDone(Task handler)
    {
        if (handler.IsCompleted)
        {
            _context.HandlerDone!(this, handler);
            return;
        }

        _handler = handler;
        handler.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_handlerDone);
    }

    private void OnHandlerDone()
    {
        var handler = _handler!;
        _handler = null;
        _context.HandlerDone!(this, handler);
    }

    public override void Abort(string reason)
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        Extras.Rare.AbortReason = reason;
        try
        {
            // Linger 0: close() sends RST and drops unsent bytes instead of lingering in FIN_WAIT.
            Epoll.EpollNative.SetLinger(_handle, on: true, seconds: 0);
        }
        catch (ObjectDisposedException)
        {
        }

        // Closing the socket fails a posted receive and a send in progress: the handler's pending
        // read or flush ends with the abort's exception.
        StopPolling();
        CloseSocket();
        EndPollWaits();
        CloseOutbox(); // queued messages are dropped with the connection
        FireConnectionClosed();
    }

    public override ValueTask CloseAsync() => _writer.CloseAsync();

    internal override bool HasClosed => Volatile.Read(ref _closedFired) != 0;

    /// <summary>
    /// Ends the connection (after a server handler returned, or when a dialer's caller is done): sends
    /// what is buffered and the FIN (unless aborted), gives the buffers back, closes the socket, and
    /// gives the deadline scanner's slot back. Idempotent.
    /// </summary>
#pragma warning disable CA2215 // The base only calls CloseAsync, which DisposeCoreAsync does first.
    protected override ValueTask DisposeAsyncCore()
#pragma warning restore CA2215
    {
        // Set by the first DisposeAsync; later calls (a handler's `await using`, then the server's own
        // dispose) wait for the same work instead of repeating it.
        var extras = Extras.Rare;
        var task = Volatile.Read(ref extras.DisposeTask);
        if (task is null)
        {
            // A cold task, published first and run second, so the work starts exactly once and
            // outside any lock (its first steps may send inline).
            var start = new Task<Task>(DisposeCoreAsync);
            var unwrapped = start.Unwrap();
            task = Interlocked.CompareExchange(ref extras.DisposeTask, unwrapped, null);
            if (task is null)
            {
                start.RunSynchronously(TaskScheduler.Default);
                task = unwrapped;
            }
        }

        return new ValueTask(task);
    }

    private async Task DisposeCoreAsync()
    {
        try
        {
            // Closing the socket sends the FIN itself, saving a system call per connection, but only
            // when no receive is posted: .NET closes a socket with a pending operation abortively (RST).
            // The epoll engine's waits are not socket operations: its sockets always close gracefully.
            await _writer.CloseAsync(sendFin: _context.Poller is null && _reader.IsReceivePending).ConfigureAwait(false);
        }
        finally
        {
            // Even when the last send failed: a dialed connection has no server to release its socket,
            // buffers and scanner slot afterwards, so this is the only place they are given back.
            _reader.Complete();
            ReleaseAttachments(); // frames the handler read are no longer in use
            StopPolling();
            CloseSocket();
            EndPollWaits();
            FireConnectionClosed();
            DetachDeadlines();
        }
    }

    /// <summary>Closes the descriptor: through the .NET socket when there is one (it also ends
    /// .NET's pending operations), else the handle itself.</summary>
    private void CloseSocket()
    {
        if (_socket is { } socket)
        {
            socket.Dispose();
        }
        else
        {
            _handle.Dispose();
        }
    }

    /// <summary>The receive side ended (FIN, reset or abort).</summary>
    internal void OnReceiveEnded() => FireConnectionClosed();

    private string AbortMessage => $"connection {Id} was aborted: {ExtrasIfCreated?.RareIfCreated?.AbortReason}";

    /// <summary>Turns a socket failure into the exception the handler sees.</summary>
    internal Exception TranslateError(Exception ex)
    {
        if (IsAborted)
        {
            return ex is ConnectionClosedException aborted ? aborted : CreateAbortException(ex);
        }

        return ex switch
        {
            SocketException se when SocketErrors.IsConnectionReset(se.SocketErrorCode) =>
                new ConnectionLostException($"connection {Id} was reset by the peer ({se.SocketErrorCode})", se),
            SocketException se when SocketErrors.IsClosedLocally(se.SocketErrorCode) =>
                new ConnectionClosedException($"connection {Id} was closed", se),
            ObjectDisposedException => new ConnectionClosedException($"connection {Id} was closed", ex),
            _ => ex,
        };
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _closedFired, 1) != 0)
        {
            return;
        }

        var extras = ExtrasIfCreated;
        if (extras is not null)
        {
            LeaveGroups(); // a closed connection is no group's member: broadcasts stop counting it
            extras.Upper?.LeaveGroups();
        }

        var source = extras?.RareIfCreated is { } rare ? Volatile.Read(ref rare.ClosedSource) : null;
        if (source is not null)
        {
            // Callbacks are the handler's code: run them on the pool, not inside a socket completion.
            ThreadPool.UnsafeQueueUserWorkItem(static c => c.RunClosedCallbacks(), this, preferLocal: false);
        }
    }

    // Every callback runs even if one throws (Cancel(false)); what they threw is logged, not rethrown:
    // an exception escaping a thread-pool work item ends the process, for one handler's bug.
    private void RunClosedCallbacks()
    {
        try
        {
            ExtrasIfCreated!.RareIfCreated!.ClosedSource!.Cancel();
        }
        catch (AggregateException ex)
        {
            if (_context.Logger is { } logger && _context.CallbackErrorLog.TryEnter(out var suppressed))
            {
                SockeyeLog.ConnectionClosedCallbackFailed(logger, Id, suppressed, ex.InnerExceptions.Count == 1 ? ex.InnerExceptions[0] : ex);
            }
        }
    }
}
