"""The alarm table (etcd's v3alarm store), changed only by applying Alarm proposals."""

from __future__ import annotations

from etcd3py._proto import rpc_pb2

_A = rpc_pb2.AlarmRequest


class AlarmStore:
    def __init__(self) -> None:
        self.active: list[tuple[int, int]] = []  # (member id, AlarmType), in raise order

    def types(self) -> set[int]:
        """The AlarmTypes raised by any member."""
        return {alarm for _, alarm in self.active}

    def apply(self, r: rpc_pb2.AlarmRequest) -> rpc_pb2.AlarmResponse:
        """GET lists the alarms of a type (NONE: all); ACTIVATE and DEACTIVATE answer
        with the alarm they changed, and nothing when there was nothing to change."""
        resp = rpc_pb2.AlarmResponse()
        if r.action == _A.GET:
            for mid, alarm in self.active:
                if r.alarm in (rpc_pb2.NONE, alarm):
                    resp.alarms.add(memberID=mid, alarm=alarm)
        elif r.action == _A.ACTIVATE:
            if r.alarm != rpc_pb2.NONE:
                if (r.memberID, r.alarm) not in self.active:
                    self.active.append((r.memberID, r.alarm))
                resp.alarms.add(memberID=r.memberID, alarm=r.alarm)
        elif r.action == _A.DEACTIVATE and (r.memberID, r.alarm) in self.active:
            self.active.remove((r.memberID, r.alarm))
            resp.alarms.add(memberID=r.memberID, alarm=r.alarm)
        return resp
