using System.IO.Pipelines;
using System.Net;

namespace Sockeye;

/// <summary>
/// One accepted connection, as its handler sees it: two pipes (bytes from the peer on
/// <see cref="Input"/>, bytes to the peer on <see cref="Output"/>), the endpoints, tokens that tell
/// the handler when to stop, and ways to end the connection gracefully or at once.
/// </summary>
/// <remarks>
/// <para>A connection belongs to the one task that runs its handler: read <see cref="Input"/> from one
/// place at a time and write <see cref="Output"/> from one place at a time, as with any pipe.
/// <see cref="Abort(string)"/>, <see cref="Id"/>, the endpoints and the tokens are safe to use from
/// any thread.</para>
/// <para>Bytes written to <see cref="Output"/> reach the socket when the handler flushes
/// (<c>await Output.FlushAsync()</c>); a flush waits while the peer is slow to read, which is how
/// back-pressure reaches the handler.</para>
/// <para>A connection from <see cref="Dialing.Dialer"/> belongs to the caller, who must dispose it
/// (<c>await using</c>). A connection accepted by <see cref="TcpServer"/> belongs to the server, which
/// disposes it when the handler returns; a handler may dispose it earlier, which is harmless.</para>
/// </remarks>
public abstract class Connection : IAsyncDisposable
{
    // Everything a connection needs only sometimes (Items, the framing reader, ...), in one object
    // created on first use: an idle connection that never touched them carries one null reference.
    private ConnectionExtras? _extras;

    /// <summary>A framing helper decoded a frame on this connection (counted by the server's metrics).</summary>
    internal virtual void OnFrameDecoded()
    {
    }

    /// <summary>The connection that owns the socket: this one, or the transport under a TLS layer. The
    /// server keeps its per-connection facts (such as a rejected protocol) there.</summary>
    internal virtual Connection Root => this;

    /// <summary>The framing helpers' reader for this connection (see <c>Sockeye.Framing</c>), created on
    /// first use; it keeps handed-out frames valid until the next read.</summary>
    internal Framing.Internal.FrameReader? FrameReader
    {
        get => Volatile.Read(ref _extras)?.FrameReader;
        set => Extras.FrameReader = value;
    }

    /// <summary>Gives back what the layers above the transport attached to this connection (the framing
    /// helpers' reader and the frames it handed out), once the handler can no longer use them. The
    /// transport and the TLS layer call this at their end without knowing what it holds, so they do not
    /// depend on the framing code (ARCHITECTURE.md, "Layers").</summary>
    internal void ReleaseAttachments() => Volatile.Read(ref _extras)?.FrameReader?.Dispose();

    /// <summary>The rarely used per-connection state, created on first use; safe to call from any thread.</summary>
    internal ConnectionExtras Extras => LazyInitializer.EnsureInitialized(ref _extras, static () => new ConnectionExtras());

    /// <summary>The rarely used per-connection state if it was created, else <see langword="null"/>.</summary>
    internal ConnectionExtras? ExtrasIfCreated => Volatile.Read(ref _extras);

    /// <summary>A number unique to this connection within the process, for logs and lookups.</summary>
    public abstract long Id { get; }

    /// <summary>The server's address and port for this connection.</summary>
    public abstract EndPoint? LocalEndPoint { get; }

    /// <summary>The peer's address and port.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>Bytes received from the peer. A read that returns <c>IsCompleted</c> means the peer
    /// closed its side (FIN); a reset or an abort surfaces as an exception from <c>ReadAsync</c>.</summary>
    public abstract PipeReader Input { get; }

    /// <summary>Bytes to send to the peer; they are sent when the handler flushes.</summary>
    public abstract PipeWriter Output { get; }

    /// <summary>Fires when the connection has ended for any reason: the peer closed or reset it, it was
    /// aborted, or it was closed after the handler finished.</summary>
    /// <remarks>Use it to stop work that runs beside the handler, such as a timer or a subscription.</remarks>
    public abstract CancellationToken ConnectionClosed { get; }

    /// <summary>Fires when the server is shutting down gracefully and asks the handler to finish: it
    /// should complete the request in hand, write its last reply and return. The server aborts
    /// connections whose handlers are still running when the drain timeout ends.</summary>
    public abstract CancellationToken ShutdownRequested { get; }

    /// <summary>A place for the handler's own per-connection state (a session, a user id, ...).
    /// Created on first use; not thread-safe.</summary>
    public IDictionary<object, object?> Items => Extras.Rare.Items ??= [];

    /// <summary>Ends the connection at once: the socket is reset (RST), unsent output is dropped, and
    /// pending reads and flushes fail with <see cref="ConnectionClosedException"/> carrying
    /// <paramref name="reason"/>. Calling it again does nothing.</summary>
    /// <param name="reason">Why the connection was aborted; it appears in logs and exceptions.</param>
    public abstract void Abort(string reason);

    /// <summary>Ends the connection gracefully: sends what <see cref="Output"/> still holds, then
    /// closes the sending side (FIN), and completes when that is done. Reading <see cref="Input"/> after
    /// it is allowed only to drop what the peer still sends, as
    /// <see cref="Framing.ConnectionFramingExtensions.RejectAsync"/> does. The server does the same when
    /// the handler returns, so calling it is needed only to close before the handler ends.</summary>
    public abstract ValueTask CloseAsync();

    /// <summary>Ends the connection and releases its socket and buffers: sends what
    /// <see cref="Output"/> still holds, closes the sending side (FIN), stops reading, closes the
    /// socket, and completes when both directions have stopped. After an <see cref="Abort(string)"/>
    /// it only releases. Calling it again, or concurrently, waits for the first call.</summary>
    /// <remarks>Like <see cref="CloseAsync"/>, it waits while a slow peer keeps unsent output from
    /// draining; call <see cref="Abort(string)"/> first to end at once.</remarks>
    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return DisposeAsyncCore();
    }

    /// <summary>The work of <see cref="DisposeAsync"/>, for a subclass to provide; it must be idempotent.
    /// The base implementation only calls <see cref="CloseAsync"/>, for connections that own no socket
    /// (test doubles, adapters).</summary>
    /// <returns>A task that completes when the connection is released.</returns>
    protected virtual ValueTask DisposeAsyncCore() => CloseAsync();

    /// <summary>
    /// Queues <paramref name="message"/> to be sent on this connection, from any task, without waiting:
    /// whole, in order after what was queued before it, and never in the middle of the handler's own
    /// <see cref="Output"/> flushes (each flush goes out whole, before or after it). The bytes are not
    /// copied: the queue holds a reference on the message until the kernel took them.
    /// </summary>
    /// <remarks>The queue is bounded by <see cref="SendQueue"/> (the slow-consumer policy). A message
    /// queued before the connection closes gracefully is sent before the FIN; one queued when it is
    /// aborted is dropped. The handler need not do anything for messages to go out.</remarks>
    /// <returns>Whether it was queued, dropped by the policy, or refused because the connection was
    /// disconnected as a slow consumer or is closed.</returns>
    /// <exception cref="NotSupportedException">This kind of connection has no send queue: a
    /// <see cref="Connection"/> subclass that is not Sockeye's (every server and dialer connection,
    /// plain, Unix or TLS, has one; over TLS each member encrypts the shared bytes itself).</exception>
    public virtual Fanout.SendResult TrySend(Fanout.OutgoingMessage message) =>
        throw new NotSupportedException($"{GetType().Name} has no send queue: TrySend works on Sockeye's own connections (TCP, Unix, TLS)");

    /// <summary>Queues a copy of <paramref name="bytes"/> (see <see cref="TrySend(Fanout.OutgoingMessage)"/>);
    /// to send the same bytes to many connections, create one <see cref="Fanout.OutgoingMessage"/> and
    /// share it instead.</summary>
    public Fanout.SendResult TrySend(ReadOnlySpan<byte> bytes)
    {
        using var message = Fanout.OutgoingMessage.Create(bytes);
        return TrySend(message);
    }

    /// <summary>The limits and slow-consumer policy of this connection's send queue; starts as the
    /// server's <see cref="TcpServerOptions.SendQueue"/> (or a group's, when it joins one that has its own).</summary>
    /// <exception cref="ArgumentException">The options are out of range (the message names the value).</exception>
    public virtual Fanout.SendQueueOptions SendQueue
    {
        get => Fanout.SendQueueOptions.Default;
        set => throw new NotSupportedException($"{GetType().Name} has no send queue");
    }

    /// <summary>Bytes queued by <see cref="TrySend(Fanout.OutgoingMessage)"/> and not yet taken by the kernel.</summary>
    public virtual long QueuedBytes => 0;

    /// <summary>Whether the connection has closed (or its peer ended it): it may join no group.</summary>
    internal virtual bool HasClosed => false;

    /// <summary>Remembers that this connection joined <paramref name="group"/>, so that it leaves it
    /// when it closes; false when it is already closed.</summary>
    /// <remarks>Under the lock of the <see cref="ConnectionExtras"/> object (internal, never handed out).
    /// One group is held in the field itself and a list is made only for a second: most members are in
    /// one group, and the list and its array cost about 90 bytes per member.</remarks>
    internal bool TrackGroup(Fanout.ConnectionGroup group)
    {
        var extras = Extras;
        lock (extras)
        {
            switch (extras.Groups)
            {
                case var closed when ReferenceEquals(closed, ConnectionExtras.GroupsClosed):
                    return false;
                case null:
                    extras.Groups = group;
                    break;
                case List<Fanout.ConnectionGroup> list:
                    list.Add(group);
                    break;
                case var first:
                    extras.Groups = new List<Fanout.ConnectionGroup> { (Fanout.ConnectionGroup)first, group };
                    break;
            }

            return true;
        }
    }

    /// <summary>Forgets <paramref name="group"/> (the connection left it).</summary>
    internal void UntrackGroup(Fanout.ConnectionGroup group)
    {
        if (Volatile.Read(ref _extras) is not { } extras)
        {
            return;
        }

        lock (extras)
        {
            if (extras.Groups is List<Fanout.ConnectionGroup> list)
            {
                list.Remove(group);
            }
            else if (ReferenceEquals(extras.Groups, group))
            {
                extras.Groups = null;
            }
        }
    }

    /// <summary>The connection closed: it leaves every group it was in. Called once, by the transport.</summary>
    internal void LeaveGroups()
    {
        if (Volatile.Read(ref _extras) is not { } extras)
        {
            return;
        }

        object? groups;
        lock (extras)
        {
            groups = extras.Groups;
            extras.Groups = ConnectionExtras.GroupsClosed;
        }

        if (groups is List<Fanout.ConnectionGroup> list)
        {
            foreach (var group in list)
            {
                group.RemoveClosed(this);
            }
        }
        else if (groups is Fanout.ConnectionGroup group)
        {
            group.RemoveClosed(this);
        }
    }

    /// <summary>How long this connection may go without receiving a byte before it is closed;
    /// <see cref="TimeSpan.Zero"/> turns the idle timeout off. Starts as
    /// <see cref="TcpServerOptions.IdleTimeout"/>
    /// (<see cref="Dialing.Dialer.IdleTimeout"/> for a dialed connection).</summary>
    /// <remarks>Setting it restarts the idle clock from now. When it expires, a pending read or flush
    /// fails with <see cref="ConnectionTimeoutException"/> and the connection is reset. Safe to set
    /// from any thread. The base implementation has no timers and cannot be set.</remarks>
    /// <exception cref="NotSupportedException">Set on a connection without deadline support.</exception>
    public virtual TimeSpan IdleTimeout
    {
        get => TimeSpan.Zero;
        set => throw NotSupported();
    }

    /// <summary>The longest one read may take, from the handler's <c>Input.ReadAsync</c> until it
    /// consumes bytes (<c>AdvanceTo</c> past the start of the buffer); <see cref="TimeSpan.Zero"/>
    /// turns it off. Starts as <see cref="TcpServerOptions.ReadTimeout"/>
    /// (<see cref="Dialing.Dialer.ReadTimeout"/> for a dialed connection).</summary>
    /// <remarks>A codec that examines a partial frame and reads again stays in the same read, so a peer
    /// trickling a byte a second cannot keep one frame read alive (Go's read deadline, set per
    /// request). The time a handler spends not reading does not count. A new value applies from the
    /// next read. Safe to set from any thread.</remarks>
    /// <exception cref="NotSupportedException">Set on a connection without deadline support.</exception>
    public virtual TimeSpan ReadTimeout
    {
        get => TimeSpan.Zero;
        set => throw NotSupported();
    }

    /// <summary>The longest one send may wait to hand its bytes to the kernel (the peer is not reading
    /// and the socket buffer is full); <see cref="TimeSpan.Zero"/> turns it off. Starts as
    /// <see cref="TcpServerOptions.WriteTimeout"/>
    /// (<see cref="Dialing.Dialer.WriteTimeout"/> for a dialed connection).</summary>
    /// <remarks>A handler whose <c>Output.FlushAsync</c> waits on back-pressure is released by the
    /// timeout with a <see cref="ConnectionTimeoutException"/>. A new value applies from the next send.
    /// Safe to set from any thread.</remarks>
    /// <exception cref="NotSupportedException">Set on a connection without deadline support.</exception>
    public virtual TimeSpan WriteTimeout
    {
        get => TimeSpan.Zero;
        set => throw NotSupported();
    }

    /// <summary>Go's <c>SetReadDeadline</c>: a read pending at <paramref name="deadline"/>, or started
    /// after it, fails with <see cref="ConnectionTimeoutException"/> and the connection is reset.</summary>
    /// <param name="deadline">An absolute time on the server's <see cref="TcpServerOptions.TimeProvider"/>
    /// (the dialer's <see cref="Dialing.Dialer.TimeProvider"/> for a dialed connection);
    /// a time in the past fails the pending read at the next timer tick (use it to cancel a blocked
    /// read from another task).</param>
    /// <remarks>Moving the deadline later postpones it; <see cref="ClearReadDeadline"/> removes it.
    /// Checked at the server's <see cref="TcpServerOptions.TimeoutResolution"/> (the dialer's
    /// <see cref="Dialing.Dialer.TimeoutResolution"/>). Safe to call from any
    /// thread.</remarks>
    /// <exception cref="NotSupportedException">The connection has no deadline support.</exception>
    public virtual void SetReadDeadline(DateTimeOffset deadline) => throw NotSupported();

    /// <summary>Go's <c>SetWriteDeadline</c>: a send pending at <paramref name="deadline"/>, or started
    /// after it, fails with <see cref="ConnectionTimeoutException"/> and the connection is reset.</summary>
    /// <param name="deadline">An absolute time on the server's <see cref="TcpServerOptions.TimeProvider"/>
    /// (the dialer's <see cref="Dialing.Dialer.TimeProvider"/> for a dialed connection).</param>
    /// <remarks>Bytes the kernel accepts before the deadline are not affected: a write deadline catches a
    /// peer that stops reading, not a handler that writes slowly. Safe to call from any thread.</remarks>
    /// <exception cref="NotSupportedException">The connection has no deadline support.</exception>
    public virtual void SetWriteDeadline(DateTimeOffset deadline) => throw NotSupported();

    /// <summary>Removes the read deadline: reads wait as long as the timeouts allow.</summary>
    /// <exception cref="NotSupportedException">The connection has no deadline support.</exception>
    public virtual void ClearReadDeadline() => throw NotSupported();

    /// <summary>Removes the write deadline.</summary>
    /// <exception cref="NotSupportedException">The connection has no deadline support.</exception>
    public virtual void ClearWriteDeadline() => throw NotSupported();

    /// <summary>Go's <c>SetDeadline</c>: sets the read and the write deadline to <paramref name="deadline"/>.</summary>
    /// <param name="deadline">An absolute time on the server's <see cref="TcpServerOptions.TimeProvider"/>
    /// (the dialer's <see cref="Dialing.Dialer.TimeProvider"/> for a dialed connection).</param>
    public void SetDeadline(DateTimeOffset deadline)
    {
        SetReadDeadline(deadline);
        SetWriteDeadline(deadline);
    }

    private NotSupportedException NotSupported() =>
        new($"{GetType().Name} has no timers: timeouts and deadlines need a connection from TcpServer or Dialer");
}
