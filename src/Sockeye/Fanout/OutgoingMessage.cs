using System.Buffers;
using System.Collections.Concurrent;

namespace Sockeye.Fanout;

/// <summary>
/// Bytes to send to one or many connections (<see cref="Connection.TrySend(OutgoingMessage)"/>,
/// <see cref="ConnectionGroup.Broadcast(OutgoingMessage, Connection?)"/>): encoded once, then shared by
/// every recipient's send queue without a copy, and returned to a pool when the last send is done.
/// </summary>
/// <remarks>
/// <para>Reference-counted: <see cref="Create(ReadOnlySpan{byte})"/> returns a message holding one
/// reference, the creator's; every send queue that takes it adds one and drops it when the kernel has
/// taken the bytes (or the connection closed). <see cref="Dispose"/> drops the creator's reference, so
/// the usual shape is <c>using var message = OutgoingMessage.Create(bytes); group.Broadcast(message);</c>.
/// The bytes must not be changed after they were created.</para>
/// <para>The bytes live in a pinned array from a pool (sizes in powers of two from 64 bytes to 1 MiB;
/// larger messages get an array of their own), so the epoll engine hands their address to
/// <c>sendmsg</c> directly and many recipients' sends cost no allocation.</para>
/// </remarks>
public sealed class OutgoingMessage : IDisposable
{
    private const int SmallestClass = 6; // 64 bytes
    private const int LargestClass = 20; // 1 MiB
    private const int KeptPerClass = 256;

    // Queues, not stacks: a ConcurrentStack allocates a node on every push (64 bytes of garbage per
    // message given back, one node for the array and one for the message) and counts by walking its
    // nodes; a queue reuses its slots and knows its count.
    private static readonly ConcurrentQueue<byte[]>[] s_arrays = CreateClasses();
    private static readonly ConcurrentQueue<OutgoingMessage> s_messages = new();

    private byte[] _array = [];
    private int _length;
    private int _references;

    private OutgoingMessage()
    {
    }

    /// <summary>How many bytes the message holds.</summary>
    public int Length => _length;

    /// <summary>The bytes (valid while the caller holds its reference).</summary>
    public ReadOnlyMemory<byte> Memory => _array.AsMemory(0, _length);

    /// <summary>The pooled array; its first <see cref="Length"/> bytes are the message.</summary>
    internal byte[] Array => _array;

    /// <summary>References held now (the creator's and one per queued send); a test probe.</summary>
    internal int References => Volatile.Read(ref _references);

    /// <summary>Copies <paramref name="bytes"/> into a pooled message holding one reference (the caller's).</summary>
    public static OutgoingMessage Create(ReadOnlySpan<byte> bytes)
    {
        var message = Rent(bytes.Length);
        bytes.CopyTo(message._array);
        return message;
    }

    /// <summary>A pooled message of <paramref name="length"/> bytes that <paramref name="write"/> fills
    /// (for encoding straight into it), holding one reference (the caller's).</summary>
    /// <param name="length">The message's size in bytes.</param>
    /// <param name="state">Passed to <paramref name="write"/>, so it need not capture.</param>
    /// <param name="write">Writes exactly the message into the span it is given.</param>
    public static OutgoingMessage Create<TState>(int length, TState state, SpanAction<byte, TState> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var message = Rent(length);
        write(message._array.AsSpan(0, length), state);
        return message;
    }

    /// <summary>Drops the creator's reference; the message goes back to the pool once every queue
    /// that took it is done with it. Calling it twice is an error that corrupts no other message:
    /// it throws.</summary>
    public void Dispose() => Release();

    /// <summary>Adds a reference for a send queue.</summary>
    internal void AddReference()
    {
        if (Interlocked.Increment(ref _references) <= 1)
        {
            throw new ObjectDisposedException(nameof(OutgoingMessage), "the message was already given back to the pool: keep your reference until the send or broadcast call returned");
        }
    }

    /// <summary>Drops one reference; the last one returns the array and the message to their pools.</summary>
    internal void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left > 0)
        {
            return;
        }

        if (left < 0)
        {
            throw new ObjectDisposedException(nameof(OutgoingMessage), "the message was released more often than it was referenced (Dispose called twice?)");
        }

        var array = _array;
        _array = [];
        _length = 0;
        if (ClassOf(array.Length) is { } index && array.Length == 1 << index && s_arrays[index - SmallestClass].Count < KeptPerClass)
        {
            s_arrays[index - SmallestClass].Enqueue(array);
        }

        if (s_messages.Count < KeptPerClass * 4)
        {
            s_messages.Enqueue(this);
        }
    }

    private static OutgoingMessage Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var message = s_messages.TryDequeue(out var pooled) ? pooled : new OutgoingMessage();
        message._array = RentArray(length);
        message._length = length;
        Volatile.Write(ref message._references, 1);
        return message;
    }

    private static byte[] RentArray(int length)
    {
        if (ClassOf(length) is not { } index)
        {
            return GC.AllocateUninitializedArray<byte>(Math.Max(length, 1), pinned: true);
        }

        return s_arrays[index - SmallestClass].TryDequeue(out var array)
            ? array
            : GC.AllocateUninitializedArray<byte>(1 << index, pinned: true);
    }

    /// <summary>The power-of-two class that holds <paramref name="length"/> bytes, or null when it is
    /// larger than the largest class.</summary>
    private static int? ClassOf(int length)
    {
        var index = Math.Max(SmallestClass, length <= 1 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)length - 1));
        return index <= LargestClass ? index : null;
    }

    private static ConcurrentQueue<byte[]>[] CreateClasses()
    {
        var classes = new ConcurrentQueue<byte[]>[LargestClass - SmallestClass + 1];
        for (var i = 0; i < classes.Length; i++)
        {
            classes[i] = new ConcurrentQueue<byte[]>();
        }

        return classes;
    }
}
