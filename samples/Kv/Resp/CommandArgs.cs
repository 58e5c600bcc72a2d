namespace Sockeye.Samples.Kv.Resp;

/// <summary>
/// The arguments of one parsed command, copied out of the receive buffer into one reusable array, so
/// a command costs no allocation per argument and stays valid after the pipe has moved on.
/// </summary>
/// <remarks>The array grows only with bytes that have really arrived (never by a claimed length), and
/// one instance belongs to one connection: not thread-safe.</remarks>
internal sealed class CommandArgs
{
    private byte[] _bytes = new byte[256];
    private int[] _starts = new int[16];
    private int[] _lengths = new int[16];
    private int _used;

    /// <summary>How many arguments (the command name included).</summary>
    public int Count { get; private set; }

    /// <summary>Argument <paramref name="index"/>'s bytes (valid until the next parse).</summary>
    public ReadOnlySpan<byte> this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return _bytes.AsSpan(_starts[index], _lengths[index]);
        }
    }

    /// <summary>A copy of argument <paramref name="index"/>, for storing.</summary>
    public byte[] ToArray(int index) => this[index].ToArray();

    /// <summary>Forgets every argument (the bytes are kept for reuse).</summary>
    public void Clear()
    {
        Count = 0;
        _used = 0;
    }

    /// <summary>Adds an argument of <paramref name="length"/> bytes and returns where to write it.</summary>
    public Span<byte> Add(int length)
    {
        if (Count == _starts.Length)
        {
            Array.Resize(ref _starts, Count * 2);
            Array.Resize(ref _lengths, Count * 2);
        }

        if (_bytes.Length - _used < length)
        {
            Array.Resize(ref _bytes, (int)Math.Min(Array.MaxLength, Math.Max((long)_bytes.Length * 2, (long)_used + length)));
        }

        _starts[Count] = _used;
        _lengths[Count] = length;
        Count++;
        _used += length;
        return _bytes.AsSpan(_used - length, length);
    }

    /// <summary>Adds a copy of <paramref name="value"/>.</summary>
    public void Add(ReadOnlySpan<byte> value) => value.CopyTo(Add(value.Length));

    /// <summary>Gives back a large array after a large command, so one big value does not pin its size
    /// for the connection's lifetime.</summary>
    public void Shrink()
    {
        if (_bytes.Length > 64 * 1024)
        {
            _bytes = new byte[256];
        }
    }
}
