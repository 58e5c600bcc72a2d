namespace Sockeye.Diagnostics;

/// <summary>
/// The names of Sockeye's metrics: one <see cref="System.Diagnostics.Metrics.Meter"/> named
/// <see cref="MeterName"/> per server, with instruments named after OpenTelemetry's conventions. Use
/// them to subscribe (<c>dotnet-counters monitor --counters Sockeye</c>, OpenTelemetry's
/// <c>AddMeter("Sockeye")</c>) or to find a series in a Prometheus scrape, where dots become
/// underscores, counters end in <c>_total</c> and units become suffixes (<c>_bytes</c>, <c>_seconds</c>).
/// </summary>
/// <remarks>Every measurement carries <c>server.address</c>, <c>network.transport</c> (<c>tcp</c>,
/// <c>unix</c> or <c>udp</c>) and, over IP, <c>server.port</c>, so several servers in one process stay
/// apart. Counts are read from the server's own counters when a listener collects (observable
/// instruments), so a server with no listener attached pays nothing for them.</remarks>
public static class SockeyeMetrics
{
    /// <summary>The name of the meter every Sockeye server publishes on.</summary>
    public const string MeterName = "Sockeye";

    /// <summary>Connections open now (up-down counter, <c>{connection}</c>).</summary>
    public const string ConnectionsActive = "sockeye.connections.active";

    /// <summary>Connections accepted and handed to a handler (counter, <c>{connection}</c>).</summary>
    public const string ConnectionsAccepted = "sockeye.connections.accepted";

    /// <summary>Connections refused at accept, by <see cref="RejectReasonTag"/> (counter, <c>{connection}</c>).</summary>
    public const string ConnectionsRejected = "sockeye.connections.rejected";

    /// <summary>Connections that ended, by <see cref="CloseReasonTag"/> (counter, <c>{connection}</c>).</summary>
    public const string ConnectionsClosed = "sockeye.connections.closed";

    /// <summary>How long connections lasted, by <see cref="CloseReasonTag"/> (histogram, seconds).</summary>
    public const string ConnectionDuration = "sockeye.connection.duration";

    /// <summary>Bytes received from peers (counter, bytes).</summary>
    public const string BytesReceived = "sockeye.bytes.received";

    /// <summary>Bytes the kernel took from the server to send to peers (counter, bytes).</summary>
    public const string BytesSent = "sockeye.bytes.sent";

    /// <summary>Frames decoded by the framing helpers (counter, <c>{frame}</c>); frame errors are
    /// <see cref="ProtocolErrors"/>.</summary>
    public const string FramesDecoded = "sockeye.frames.decoded";

    /// <summary>Accepts that failed, such as for lack of file descriptors (counter, <c>{error}</c>).</summary>
    public const string AcceptErrors = "sockeye.accept.errors";

    /// <summary>Back-off waits of the accept loop after failed accepts (counter, <c>{backoff}</c>).</summary>
    public const string AcceptBackoffs = "sockeye.accept.backoffs";

    /// <summary>Handlers that threw (counter, <c>{error}</c>).</summary>
    public const string HandlerErrors = "sockeye.handler.errors";

    /// <summary>Connections closed for breaking the protocol: a malformed or oversize frame (counter, <c>{error}</c>).</summary>
    public const string ProtocolErrors = "sockeye.protocol.errors";

    /// <summary>Timeouts and deadlines that expired, by <see cref="TimeoutKindTag"/> (counter, <c>{timeout}</c>).</summary>
    public const string Timeouts = "sockeye.timeouts";

    /// <summary>The server's state: 1 for the state it is in, 0 for the others, by <see cref="ServerStateTag"/> (gauge).</summary>
    public const string ServerStateMetric = "sockeye.server.state";

    /// <summary>UDP datagrams received (counter, <c>{datagram}</c>).</summary>
    public const string UdpDatagramsReceived = "sockeye.udp.datagrams.received";

    /// <summary>UDP datagrams sent (counter, <c>{datagram}</c>).</summary>
    public const string UdpDatagramsSent = "sockeye.udp.datagrams.sent";

    /// <summary>UDP payload bytes received (counter, bytes).</summary>
    public const string UdpBytesReceived = "sockeye.udp.bytes.received";

    /// <summary>UDP payload bytes sent (counter, bytes).</summary>
    public const string UdpBytesSent = "sockeye.udp.bytes.sent";

    /// <summary>UDP datagrams dropped, by <see cref="DropReasonTag"/> (counter, <c>{datagram}</c>).</summary>
    public const string UdpDatagramsDropped = "sockeye.udp.datagrams.dropped";

    /// <summary>UDP errors, by <see cref="ErrorKindTag"/> (counter, <c>{error}</c>).</summary>
    public const string UdpErrors = "sockeye.udp.errors";

    /// <summary>UDP datagram handlers running now (up-down counter, <c>{handler}</c>).</summary>
    public const string UdpHandlersActive = "sockeye.udp.handlers.active";

    /// <summary>Messages queued on connections from other tasks: <c>TrySend</c> and group broadcasts
    /// (counter, <c>{message}</c>).</summary>
    public const string MessagesQueued = "sockeye.messages.queued";

    /// <summary>Queued messages the kernel took (counter, <c>{message}</c>).</summary>
    public const string MessagesSent = "sockeye.messages.sent";

    /// <summary>Messages not delivered: refused or dropped by a full send queue, or still queued when
    /// the connection was disconnected or aborted (counter, <c>{message}</c>). Slow-consumer disconnects
    /// are counted by <see cref="ConnectionsClosed"/> with reason <c>slow_consumer</c>.</summary>
    public const string MessagesDropped = "sockeye.messages.dropped";

    /// <summary>Bytes queued on all of a server's connections and not yet sent (up-down counter, <c>By</c>).</summary>
    public const string SendQueueBytes = "sockeye.send_queue.bytes";

    /// <summary><see cref="Fanout.ConnectionGroup"/>s in the process that have at least one member
    /// (up-down counter, <c>{group}</c>). Not tagged by server: a group may hold connections of several.</summary>
    public const string GroupsActive = "sockeye.groups.active";

    /// <summary>Memberships of all groups in the process: a connection in three groups counts three
    /// (up-down counter, <c>{membership}</c>).</summary>
    public const string GroupMemberships = "sockeye.group.memberships";

    /// <summary>Members of one group, by <see cref="GroupNameTag"/> (up-down counter, <c>{connection}</c>),
    /// for the groups created with <see cref="Fanout.ConnectionGroup.PublishSize"/> while they have members.</summary>
    public const string GroupMembers = "sockeye.group.members";

    /// <summary>Tag on <see cref="GroupMembers"/>: the group's <see cref="Fanout.ConnectionGroup.Name"/>.</summary>
    public const string GroupNameTag = "sockeye.group";

    /// <summary>Broadcasts a <see cref="Fanout.GroupBroadcaster"/> handed to its backplane for the other
    /// instances: one per broadcast, not per recipient (counter, <c>{message}</c>), by <see cref="BackplaneTag"/>.</summary>
    public const string BackplanePublished = "sockeye.backplane.messages.published";

    /// <summary>Broadcasts received from other instances through the backplane (counter, <c>{message}</c>);
    /// this instance's own, handed back by the backplane, are not counted.</summary>
    public const string BackplaneReceived = "sockeye.backplane.messages.received";

    /// <summary>Broadcasts that should have crossed to other instances but did not, because the
    /// backplane was down or failed before confirming them (counter, <c>{message}</c>): at-most-once.</summary>
    public const string BackplaneLost = "sockeye.backplane.messages.lost";

    /// <summary>1 while the backplane carries broadcasts to other instances, 0 while it is connecting
    /// or down (gauge, <c>{backplane}</c>).</summary>
    public const string BackplaneConnected = "sockeye.backplane.connected";

    /// <summary>Tag on the backplane's metrics: <see cref="Fanout.IGroupBackplane.Name"/> (<c>redis</c>, <c>in-process</c>).</summary>
    public const string BackplaneTag = "sockeye.backplane";

    /// <summary>Jobs waiting for a worker in a <see cref="Pools.WorkerPool"/> now (up-down counter, <c>{job}</c>).</summary>
    public const string PoolJobsQueued = "sockeye.pool.jobs.queued";

    /// <summary>Jobs running in a worker pool now (up-down counter, <c>{job}</c>).</summary>
    public const string PoolJobsRunning = "sockeye.pool.jobs.running";

    /// <summary>Jobs a worker pool is done with, by <see cref="PoolOutcomeTag"/> (counter, <c>{job}</c>).</summary>
    public const string PoolJobs = "sockeye.pool.jobs";

    /// <summary>The time started jobs spent waiting for a worker, added up (counter, seconds): its rate
    /// over the rate of <see cref="PoolJobs"/> is the mean wait.</summary>
    public const string PoolQueueWait = "sockeye.pool.queue_wait";

    /// <summary>Which worker pool: <see cref="Pools.WorkerPoolOptions.Name"/>.</summary>
    public const string PoolNameTag = "sockeye.pool.name";

    /// <summary>How a job ended: <c>succeeded</c>, <c>faulted</c> (it threw), <c>cancelled</c> (before it
    /// started) or <c>rejected</c> (the queue was full or the pool stopping).</summary>
    public const string PoolOutcomeTag = "sockeye.pool.outcome";

    /// <summary>Why a connection was refused: <c>limit</c> (<see cref="TcpServerOptions.MaxConnections"/>
    /// were open), <c>descriptors</c> (the process was short of file descriptors), or the snake_case
    /// name of a <see cref="Security.RefusalReason"/> (<c>max_connections_per_ip</c>, <c>accept_rate</c>,
    /// <c>source_denied</c>, <c>untrusted_proxy</c>, ...). While draining, the listener is closed and the
    /// kernel refuses connections, so Sockeye never sees them.</summary>
    public const string RejectReasonTag = "sockeye.reject.reason";

    /// <summary>How a connection ended: the snake_case name of a <see cref="ConnectionCloseReason"/>.</summary>
    public const string CloseReasonTag = "sockeye.close.reason";

    /// <summary>Which timeout expired: the snake_case name of a <see cref="ConnectionTimeoutKind"/>.</summary>
    public const string TimeoutKindTag = "sockeye.timeout.kind";

    /// <summary>A server state: <c>listening</c>, <c>draining</c> or <c>stopped</c>.</summary>
    public const string ServerStateTag = "sockeye.server.state";

    /// <summary>Why a datagram was dropped: <c>oversize</c> or <c>overload</c>.</summary>
    public const string DropReasonTag = "sockeye.drop.reason";

    /// <summary>Where a UDP error happened: <c>handler</c>, <c>receive</c> or <c>send</c>.</summary>
    public const string ErrorKindTag = "error.type";
}
