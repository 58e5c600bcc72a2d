using Sockeye.Fanout;

namespace Sockeye.Transport;

/// <summary>The connection's side of fan-out: its send queue (<see cref="Outbox"/>), created by the
/// first <see cref="TrySend(OutgoingMessage)"/> or <see cref="SendQueue"/> setting.</summary>
internal sealed partial class SocketConnection
{
    /// <summary>The writer, whose send gate the queue shares.</summary>
    internal SocketWriter Writer => _writer;

    /// <summary>The send queue, or null when nothing was ever queued.</summary>
    internal Outbox? Outbox => ExtrasIfCreated?.Outbox;

    public override SendResult TrySend(OutgoingMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (IsAborted)
        {
            return SendResult.Closed;
        }

        return EnsureOutbox(null).Enqueue(message);
    }

    public override SendQueueOptions SendQueue
    {
        get => Outbox?.Options ?? _context.SendQueue;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate();
            EnsureOutbox(value).Options = value;
        }
    }

    public override long QueuedBytes => Outbox?.PendingBytes ?? 0;

    private Outbox EnsureOutbox(SendQueueOptions? options)
    {
        var extras = Extras;
        if (Volatile.Read(ref extras.Outbox) is { } outbox)
        {
            return outbox;
        }

        var created = new Outbox(this, _writer, options ?? _context.SendQueue);
        outbox = Interlocked.CompareExchange(ref extras.Outbox, created, null) ?? created;
        if (IsAborted)
        {
            outbox.Close(); // aborted while it was being created: the abort may not have seen it
        }

        return outbox;
    }

    /// <summary>Disconnects this connection because its send queue passed the slow-consumer limit
    /// (counted as <see cref="ConnectionCloseReason.SlowConsumer"/>, logged rate-limited).</summary>
    internal void DisconnectSlowConsumer(string why)
    {
        Extras.SlowConsumer = true;
        if (_context.Logger is { } logger && _context.SlowConsumerLog.TryEnter(out var suppressed))
        {
            Diagnostics.SockeyeLog.SlowConsumerDisconnected(logger, Id, why, suppressed);
        }

        Abort($"slow consumer: {why}");
    }
}
