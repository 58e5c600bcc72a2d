namespace Sockeye;

/// <summary>
/// The part of a <see cref="Connection"/> that most connections never use, or use only at the end of
/// their life: one object created on first use instead of a field each in every connection (an idle
/// connection pays 8 bytes for the reference instead of 80 for the fields; docs/MEMORY.md).
/// </summary>
/// <remarks>
/// <para>Two objects: this one holds what a connection may use while it waits (its send queue, its
/// groups, the framing helpers' reader), so an idle group member or framed connection carries 48 bytes;
/// what is used rarely or only at the end (<see cref="Connection.Items"/>, the <c>ConnectionClosed</c>
/// source, the abort reason, the local endpoint, the dispose task, ...) is in
/// <see cref="ConnectionRareExtras"/>, made on first use. With all of them in one object a group member
/// held 104 bytes for 2 fields it used (BENCHMARKS.md, "Idle subscriber: send queue given back").</para>
/// <para>Fields that are set from several threads are written with <see cref="Interlocked"/> by their
/// owners; the others belong to the handler's task.</para>
/// </remarks>
internal sealed class ConnectionExtras
{
    /// <summary>What <see cref="Groups"/> holds once the connection closed and left its groups: it
    /// joins no more.</summary>
    public static readonly object GroupsClosed = new();

    /// <summary>The send queue for messages from other tasks (<see cref="Connection.TrySend(Fanout.OutgoingMessage)"/>),
    /// while it has one: taken from the server's pool by a send and given back when a drain empties it
    /// (<see cref="Transport.OutboxPool"/>).</summary>
    public Transport.Outbox? Outbox;

    /// <summary>The groups this connection is a member of, to leave them when it closes: null, one
    /// <see cref="Fanout.ConnectionGroup"/>, a <see cref="List{T}"/> of them once there are two, or
    /// <see cref="GroupsClosed"/> (under this object's lock; see <see cref="Connection.TrackGroup"/>).</summary>
    public object? Groups;

    /// <summary>The framing helpers' reader (see <see cref="Connection.FrameReader"/>).</summary>
    public Framing.Internal.FrameReader? FrameReader;

    private ConnectionRareExtras? _rare;

    /// <summary>The TLS layer over this transport (<see cref="ConnectionRareExtras.Upper"/>); forwarded so
    /// that the TLS code sets it where it always did.</summary>
    public Connection? Upper
    {
        get => RareIfCreated?.Upper;
        set => Rare.Upper = value;
    }

    /// <summary>The rarely used fields, created on first use; safe to call from any thread.</summary>
    public ConnectionRareExtras Rare => LazyInitializer.EnsureInitialized(ref _rare, static () => new ConnectionRareExtras());

    /// <summary>The rarely used fields if they were created, else <see langword="null"/>.</summary>
    public ConnectionRareExtras? RareIfCreated => Volatile.Read(ref _rare);
}
