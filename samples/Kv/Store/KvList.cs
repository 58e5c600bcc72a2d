namespace Sockeye.Samples.Kv.Store;

/// <summary>A list value: a ring buffer, so pushes and pops at both ends are O(1) and LRANGE indexes directly.</summary>
internal sealed class KvList
{
    private byte[][] _items = new byte[4][];
    private int _head;

    /// <summary>Elements in the list.</summary>
    public int Count { get; private set; }

    /// <summary>Element <paramref name="index"/> from the head.</summary>
    public byte[] this[int index] => _items[(_head + index) % _items.Length];

    /// <summary>Adds <paramref name="item"/> at the head (LPUSH).</summary>
    public void PushFront(byte[] item)
    {
        Grow();
        _head = (_head - 1 + _items.Length) % _items.Length;
        _items[_head] = item;
        Count++;
    }

    /// <summary>Adds <paramref name="item"/> at the tail (RPUSH).</summary>
    public void PushBack(byte[] item)
    {
        Grow();
        _items[(_head + Count) % _items.Length] = item;
        Count++;
    }

    /// <summary>Removes and returns the head (LPOP); the list must not be empty.</summary>
    public byte[] PopFront()
    {
        var item = _items[_head];
        _items[_head] = null!;
        _head = (_head + 1) % _items.Length;
        Count--;
        return item;
    }

    /// <summary>Removes and returns the tail (RPOP); the list must not be empty.</summary>
    public byte[] PopBack()
    {
        var index = (_head + Count - 1) % _items.Length;
        var item = _items[index];
        _items[index] = null!;
        Count--;
        return item;
    }

    private void Grow()
    {
        if (Count < _items.Length)
        {
            return;
        }

        var items = new byte[_items.Length * 2][];
        for (var i = 0; i < Count; i++)
        {
            items[i] = this[i];
        }

        _items = items;
        _head = 0;
    }
}
