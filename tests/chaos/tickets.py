"""Realistic ticket bodies for the intake API: an enterprise's request in Chinese, 200–900 bytes.

Deterministic per (run tag, index), so a re-sent submission is byte-for-byte the
one sent before. Every ``fast_every``-th ticket names a key enterprise, which
the chaos policy gives a seconds-long SLA window (``system.chaos_policy``).
"""

from __future__ import annotations

import random
from typing import Any

KEY_ENTERPRISES = ("康杰药业", "惠昱电子", "臻爱儿童卓越发展中心")
ENTERPRISES = (
    "青岛海川精密机械有限公司", "李沧瑞丰食品有限公司", "青岛启明新材料科技有限公司", "鑫源物流有限公司",
    "青岛蓝湾生物科技有限公司", "博远建筑工程有限公司", "青岛安泰医疗器械有限公司", "恒信电子商务有限公司",
    "青岛德润环保设备有限公司", "华彩印务有限公司", "青岛北辰智能装备有限公司", "万家福超市连锁有限公司",
)  # fmt: skip
STREETS = ("李村街道", "兴城路街道", "浮山路街道", "虎山路街道", "楼山街道", "九水街道", "湘潭路街道")
PROBLEMS = (
    "我们公司新建厂房的土石方施工许可证一直办不下来，材料已经交了两次，窗口说还缺地勘报告",
    "营业执照经营范围变更登记提交后一直显示审核中，已经超过十个工作日没有任何答复",
    "食品经营许可证延续申请需要现场核查，但是约不上核查时间，眼看许可证就要到期了",
    "厂房消防验收没有通过，整改意见写得比较笼统，不知道具体应该怎么整改才能达标",
    "企业招用的高校毕业生社保补贴申请被退回，说材料不全，但没有说明缺少哪一项",
    "园区门口道路施工占道已经三个月，货车进出非常困难，影响正常生产经营",
    "申请增值税留抵退税已经提交一个多月，一直没有到账，企业资金周转很紧张",
    "项目用地规划条件迟迟没有出具，导致后续的工程规划许可证和施工许可都无法办理",
    "特种设备电梯年检一直约不上检测机构，使用登记证快要到期，担心被处罚",
    "排污许可证重新申领时系统一直提示信息校验失败，打了几次电话也没有解决",
    "企业想申报高新技术企业认定，不清楚研发费用归集口径，希望有关部门给予辅导",
    "小区配套商业用房的不动产登记办不下来，涉及规划、住建和税务好几个部门",
)
DETAILS = (
    "我们已经多次到政务服务大厅咨询，每次得到的答复都不太一样。",
    "项目投资约两千万元，计划年底前投产，现在卡在这个环节非常着急。",
    "希望相关部门能够协调一下，给我们一个明确的办理时限和材料清单。",
    "企业目前有员工八十多人，如果不能按期开工，将会影响一批订单的交付。",
    "之前在微信群里反映过一次，当时说会有人联系，但至今没有回复。",
    "我们愿意按照要求补充材料，只是希望能够一次性告知需要准备的全部内容。",
    "这件事情涉及多个部门，企业自己跑了很多趟，实在协调不动。",
    "恳请区里帮忙督办，尽快给企业一个答复，谢谢。",
)


def ticket_body(tag: str, index: int, fast_every: int) -> dict[str, Any]:
    """The JSON body of ``POST /api/tickets`` for submission ``index`` of run ``tag``."""
    rng = random.Random(f"{tag}:{index}")
    fast = fast_every > 0 and index % fast_every == 0
    enterprise = rng.choice(KEY_ENTERPRISES) if fast else rng.choice(ENTERPRISES)
    street = rng.choice(STREETS)
    problem = rng.choice(PROBLEMS)
    size = rng.randint(200, 900)
    parts = [f"我是{enterprise}的负责人，企业位于{street}。{problem}。"]
    details = list(DETAILS)
    rng.shuffle(details)
    for detail in details:
        if len("".join(parts).encode()) + len(detail.encode()) > size:
            break
        parts.append(detail)
    return {
        "channel_message_id": f"{tag}-{index:06d}",
        "enterprise_name": enterprise,
        "street": street,
        "contact": f"{rng.choice('王李张刘陈杨赵黄周吴')}先生 139****{rng.randint(1000, 9999)}",
        "title": problem[:24],
        "text": "".join(parts),
    }
