namespace Sockeye.Fanout;

/// <summary>
/// The bound on what a connection may have queued by <see cref="Connection.TrySend(OutgoingMessage)"/>
/// and not yet handed to the kernel, and what happens past it: the slow-consumer policy. Set per server
/// (<see cref="TcpServerOptions.SendQueue"/>), per group (<see cref="ConnectionGroup"/>'s constructor:
/// applied to members as they join) or per connection (<see cref="Connection.SendQueue"/>).
/// </summary>
/// <remarks>
/// <para>The defaults are Redis's for pub/sub clients (<c>client-output-buffer-limit pubsub 32mb 8mb
/// 60</c>): a connection is disconnected at once when 32 MiB are queued, or when more than 8 MiB stayed
/// queued for 60 s. The trade-off: high limits ride out a subscriber's pause (a GC, a phone switching
/// networks) at the price of memory per slow subscriber — 10,000 stalled subscribers may hold up to
/// 10,000 × <see cref="HardLimit"/>; low limits cut slow readers early and bound the server's memory
/// tightly. The bytes of a broadcast are shared, so the queue of a connection that keeps up holds
/// references, not copies. The connection's <see cref="Connection.WriteTimeout"/>, when set, also
/// bounds how long one send may wait for the peer to read (NATS's write deadline).</para>
/// <para>The soft limit is checked when a message is queued: a connection over it that is sent
/// nothing more is not disconnected by it until the next message (the hard limit and the write
/// timeout still bound it).</para>
/// </remarks>
public sealed class SendQueueOptions
{
    /// <summary>The most bytes queued at once; a message past it is handled by <see cref="Overflow"/>.
    /// Default 32 MiB.</summary>
    public long HardLimit { get; init; } = 32L * 1024 * 1024;

    /// <summary>Queued bytes a connection may stay above for <see cref="SoftLimitTime"/> before it is
    /// disconnected (with <see cref="QueueOverflow.Disconnect"/>; the other policies only drop).
    /// Default 8 MiB; 0 turns the soft limit off.</summary>
    public long SoftLimit { get; init; } = 8L * 1024 * 1024;

    /// <summary>How long a connection may stay above <see cref="SoftLimit"/>. Default 60 s.</summary>
    public TimeSpan SoftLimitTime { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>What a message past <see cref="HardLimit"/> does. Default <see cref="QueueOverflow.Disconnect"/>.</summary>
    public QueueOverflow Overflow { get; init; } = QueueOverflow.Disconnect;

    /// <summary>The defaults (a shared instance: options are immutable).</summary>
    public static SendQueueOptions Default { get; } = new();

    /// <summary>Checks every value and throws an <see cref="ArgumentException"/> naming the first one out of range.</summary>
    public void Validate()
    {
        if (HardLimit < 1)
        {
            throw new ArgumentException($"{nameof(HardLimit)} must be at least 1 byte, got {HardLimit}", nameof(HardLimit));
        }

        if (SoftLimit < 0 || SoftLimit > HardLimit)
        {
            throw new ArgumentException($"{nameof(SoftLimit)} must be between 0 and {nameof(HardLimit)} ({HardLimit}), got {SoftLimit}", nameof(SoftLimit));
        }

        if (SoftLimitTime < TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(SoftLimitTime)} must not be negative, got {SoftLimitTime}", nameof(SoftLimitTime));
        }

        if (!Enum.IsDefined(Overflow))
        {
            throw new ArgumentException($"{nameof(Overflow)} must be Disconnect, DropNewest or DropOldest, got {(int)Overflow}", nameof(Overflow));
        }
    }
}
